import { CLINICAL_CODINGS, CVX, LOINC, RXNORM, SNOMED } from './code-tables';
import type { Bundle, BundleEntry } from './fhir-bundle';
import { SIMULATION_END } from './fhir-time';
import { bundleStats, generatePatientBundle, generatePopulation } from './population-generator';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const YEAR_PART = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const DAY_PART = '(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])';
const ZONE = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';
const FHIR_DATE = new RegExp(`^${YEAR_PART}-${DAY_PART}$`);
const FHIR_DATE_TIME = new RegExp(
  `^${YEAR_PART}-${DAY_PART}T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?${ZONE}$`,
);
const FHIR_INSTANT = new RegExp(
  `^${YEAR_PART}-${DAY_PART}T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)\\.[0-9]+${ZONE}$`,
);
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?(.+)$/;

const INSTANT_KEYS = new Set(['issued', 'recorded', 'date']);
const DATE_TIME_KEYS = /DateTime$|^(authoredOn|recordedDate|created|started|start|end)$/;

// Reference-holding elements and the resource types they may point at.
const REFERENCE_TARGETS: Record<string, string[]> = {
  subject: ['Patient'],
  patient: ['Patient'],
  beneficiary: ['Patient'],
  encounter: ['Encounter'],
  result: ['Observation'],
  claim: ['Claim'],
  prescription: ['MedicationRequest'],
  careTeam: ['CareTeam'],
  addresses: ['Condition'],
  goal: ['Goal'],
  reasonReference: ['Condition'],
  diagnosisReference: ['Condition'],
  procedureReference: ['Procedure'],
  individual: ['Practitioner'],
  requester: ['Practitioner'],
  author: ['Practitioner'],
  who: ['Practitioner'],
  serviceProvider: ['Organization'],
  custodian: ['Organization'],
  managingOrganization: ['Organization'],
  onBehalfOf: ['Organization'],
  facility: ['Location'],
  location: ['Location'],
  provider: ['Organization', 'Practitioner'],
  performer: ['Practitioner'],
  member: ['Patient', 'Practitioner', 'Organization'],
};

interface FoundReference {
  key: string;
  reference: string;
  /** The ids of the resources contained in the resource holding the reference. */
  contained: Set<string>;
}

function referencesIn(entry: BundleEntry): FoundReference[] {
  const contained = new Set(
    ((entry.resource.contained ?? []) as { id: string }[]).map((r) => `#${r.id}`),
  );
  const found: FoundReference[] = [];
  const visit = (node: unknown, key: string) => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, key);
    } else if (typeof node === 'object' && node !== null) {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'reference' && typeof v === 'string') {
          found.push({ key, reference: v, contained });
        } else {
          visit(v, k);
        }
      }
    }
  };
  visit(entry.resource, entry.resource.resourceType);
  return found;
}

function stringsIn(node: unknown, visit: (key: string, value: string) => void, key = ''): void {
  if (Array.isArray(node)) {
    for (const item of node) stringsIn(item, visit, key);
  } else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) stringsIn(v, visit, k);
  } else if (typeof node === 'string') {
    visit(key, node);
  }
}

function codingsIn(node: unknown, found: { system: string; code: string; display?: string }[]) {
  if (Array.isArray(node)) {
    for (const item of node) codingsIn(item, found);
  } else if (typeof node === 'object' && node !== null) {
    const record = node as Record<string, unknown>;
    if (typeof record.system === 'string' && typeof record.code === 'string') {
      found.push(record as { system: string; code: string; display?: string });
    }
    for (const v of Object.values(record)) codingsIn(v, found);
  }
}

// Seed 80 puts patient 10 in the heavy tail, so the structural checks see one of those too.
const STRUCTURE_SEED = 80;
const structural: Bundle[] = Array.from({ length: 25 }, (_, i) =>
  generatePatientBundle(i, STRUCTURE_SEED),
);

describe('generatePatientBundle', () => {
  it('gives byte-identical Bundles for the same index and seed, whatever was generated before', () => {
    const first = JSON.stringify(generatePatientBundle(7, 42));
    for (let i = 0; i < 7; i++) generatePatientBundle(i, 42);
    generatePatientBundle(7, 43);
    expect(JSON.stringify(generatePatientBundle(7, 42))).toBe(first);
  });

  it('gives different patients for a different seed or index', () => {
    const base = JSON.stringify(generatePatientBundle(3, 1));
    expect(JSON.stringify(generatePatientBundle(3, 2))).not.toBe(base);
    expect(JSON.stringify(generatePatientBundle(4, 1))).not.toBe(base);
    const ids = new Set(
      [generatePatientBundle(3, 1), generatePatientBundle(3, 2), generatePatientBundle(4, 1)].map(
        (b) => b.entry[0].resource.id,
      ),
    );
    expect(ids.size).toBe(3);
  });

  it('refuses an index or seed that is not a non-negative integer', () => {
    expect(() => generatePatientBundle(-1, 1)).toThrow(RangeError);
    expect(() => generatePatientBundle(1.5, 1)).toThrow(RangeError);
    expect(() => generatePatientBundle(1, Number.NaN)).toThrow(RangeError);
  });

  it('writes a transaction whose every entry is a POST of its resource type under a urn:uuid fullUrl', () => {
    const wrong: string[] = [];
    for (const bundle of structural) {
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
      expect(bundle.entry[0].resource.resourceType).toBe('Patient');
      const fullUrls = new Set<string>();
      for (const entry of bundle.entry) {
        const { method, url } = entry.request;
        if (method !== 'POST' || url !== entry.resource.resourceType) {
          wrong.push(`${entry.fullUrl}: request ${method} ${url}`);
        }
        if (!UUID_URN.test(entry.fullUrl) || entry.fullUrl !== `urn:uuid:${entry.resource.id}`) {
          wrong.push(`${entry.fullUrl}: fullUrl does not name resource id ${entry.resource.id}`);
        }
        if (!FHIR_ID.test(entry.resource.id)) wrong.push(`${entry.resource.id}: not a FHIR id`);
        fullUrls.add(entry.fullUrl);
      }
      expect(fullUrls.size).toBe(bundle.entry.length);
    }
    expect(wrong).toEqual([]);
  });

  it('never repeats a resource id across patients', () => {
    const seen = new Set<string>();
    let own = 0;
    for (const bundle of structural) {
      for (const entry of bundle.entry) {
        if (entry.request.ifNoneExist !== undefined) continue;
        seen.add(entry.resource.id);
        own++;
      }
    }
    expect(seen.size).toBe(own);
  });

  it('resolves every reference to an entry, a contained resource, or a shared resource it creates conditionally', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const bundle of structural) {
      const byFullUrl = new Map(bundle.entry.map((e) => [e.fullUrl, e]));
      const conditionalCreates = new Map(
        bundle.entry
          .filter((e) => e.request.ifNoneExist !== undefined)
          .map((e) => [`${e.request.url}?${e.request.ifNoneExist}`, e]),
      );
      for (const entry of bundle.entry) {
        for (const { key, reference, contained } of referencesIn(entry)) {
          checked++;
          const at = `${entry.resource.resourceType}.${key} ${reference}`;
          const conditional = CONDITIONAL.exec(reference);
          let targetType: string | undefined;
          if (reference.startsWith('#')) {
            if (!contained.has(reference)) wrong.push(`${at}: no such contained resource`);
            continue;
          } else if (conditional) {
            if (!conditionalCreates.has(reference)) wrong.push(`${at}: no matching ifNoneExist`);
            targetType = conditional[1];
          } else {
            const target = byFullUrl.get(reference);
            if (!target) wrong.push(`${at}: no entry has this fullUrl`);
            // Shared resources are only ever referenced conditionally.
            else if (target.request.ifNoneExist) wrong.push(`${at}: shared, but not conditional`);
            targetType = target?.resource.resourceType;
          }
          const allowed = REFERENCE_TARGETS[key];
          if (allowed && targetType && !allowed.includes(targetType)) {
            wrong.push(`${at}: points at a ${targetType}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(10_000);
  });

  it('creates each shared Organization, Location and Practitioner conditionally on the identifier it carries', () => {
    const sharedBytes = new Map<string, string>();
    for (const bundle of structural) {
      for (const entry of bundle.entry) {
        const search = entry.request.ifNoneExist;
        if (search === undefined) {
          expect(['Organization', 'Location', 'Practitioner']).not.toContain(
            entry.resource.resourceType,
          );
          continue;
        }
        expect(['Organization', 'Location', 'Practitioner']).toContain(entry.resource.resourceType);
        const identifier = (entry.resource.identifier as { system: string; value: string }[])[0];
        expect(search).toBe(`identifier=${identifier.system}|${identifier.value}`);
        // Every patient that names a shared resource writes it identically.
        const key = `${entry.request.url}?${search}`;
        const bytes = JSON.stringify(entry);
        expect(sharedBytes.get(key) ?? bytes).toBe(bytes);
        sharedBytes.set(key, bytes);
      }
    }
    expect(sharedBytes.size).toBeGreaterThan(10);
  });

  it('ends with a Provenance naming every entry of the patient record', () => {
    for (const bundle of structural) {
      const provenance = bundle.entry.at(-1)!;
      expect(provenance.resource.resourceType).toBe('Provenance');
      const targets = (provenance.resource.target as { reference: string }[]).map(
        (t) => t.reference,
      );
      const own = bundle.entry
        .filter((e) => e.request.ifNoneExist === undefined && e !== provenance)
        .map((e) => e.fullUrl);
      expect(targets).toEqual(own);
    }
  });

  it('writes valid FHIR dates, dateTimes and instants, inside the patient life', () => {
    const wrong: string[] = [];
    for (const bundle of structural) {
      const patient = bundle.entry[0].resource;
      const born = Date.parse(patient.birthDate as string);
      const ended =
        typeof patient.deceasedDateTime === 'string'
          ? Date.parse(patient.deceasedDateTime)
          : SIMULATION_END;
      for (const entry of bundle.entry) {
        stringsIn(entry.resource, (key, value) => {
          if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return;
          const where = `${entry.resource.resourceType}.${key} ${value}`;
          const format =
            key === 'birthDate'
              ? FHIR_DATE
              : INSTANT_KEYS.has(key)
                ? FHIR_INSTANT
                : DATE_TIME_KEYS.test(key)
                  ? FHIR_DATE_TIME
                  : undefined;
          if (!format?.test(value)) wrong.push(where);
        });
        if (entry.resource.resourceType === 'Encounter') {
          const period = entry.resource.period as { start: string; end: string };
          const start = Date.parse(period.start);
          if (start < born - 86_400_000 || start > ended || Date.parse(period.end) < start) {
            wrong.push(`Encounter ${period.start}..${period.end} outside ${born}..${ended}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('takes every SNOMED CT, LOINC, RxNorm and CVX code, with its display, from the code tables', () => {
    const known = new Map(CLINICAL_CODINGS.map((c) => [`${c.system}|${c.code}`, c.display]));
    const clinical = new Set([SNOMED, LOINC, RXNORM, CVX]);
    const used = new Set<string>();
    const unknown = new Set<string>();
    for (const bundle of structural) {
      const found: { system: string; code: string; display?: string }[] = [];
      codingsIn(bundle, found);
      for (const c of found) {
        if (!clinical.has(c.system)) continue;
        const key = `${c.system}|${c.code}`;
        if (known.get(key) !== c.display) unknown.add(`${key} ${c.display}`);
        used.add(key);
      }
    }
    expect([...unknown]).toEqual([]);
    // The tables are used broadly, not through a handful of codes.
    expect(used.size).toBeGreaterThan(100);
  });
});

describe('a population of 200 patients', () => {
  const PATIENTS = 200;
  const byType: Record<string, number> = {};
  const observationsPerPatient: number[] = [];
  let resources = 0;
  let ndjsonBytes = 0;

  beforeAll(() => {
    for (let i = 0; i < PATIENTS; i++) {
      const stats = bundleStats(generatePatientBundle(i, 1));
      resources += stats.resources;
      ndjsonBytes += stats.ndjsonBytes;
      observationsPerPatient.push(stats.byType.Observation ?? 0);
      for (const [type, n] of Object.entries(stats.byType)) byType[type] = (byType[type] ?? 0) + n;
    }
  });

  const perPatient = (type: string) => (byType[type] ?? 0) / PATIENTS;

  it("has about 370 resources per patient, about half of them Observations, as Synthea's published mix", () => {
    expect(resources / PATIENTS).toBeGreaterThan(300);
    expect(resources / PATIENTS).toBeLessThan(450);
    expect(byType.Observation / resources).toBeGreaterThan(0.43);
    expect(byType.Observation / resources).toBeLessThan(0.55);
    const claims = (byType.Claim + byType.ExplanationOfBenefit) / resources;
    expect(claims).toBeGreaterThan(0.17);
    expect(claims).toBeLessThan(0.25);
  });

  it.each([
    ['Encounter', 34, 26, 42],
    ['Procedure', 28, 20, 36],
    ['DiagnosticReport', 12, 8, 16],
    ['Immunization', 12, 8, 18],
    ['MedicationRequest', 10, 7, 14],
    ['Condition', 7.5, 5, 11],
    ['CarePlan', 3, 1.5, 4.5],
  ])('has about %s %d per patient', (type, _target, low, high) => {
    expect(perPatient(type)).toBeGreaterThan(low);
    expect(perPatient(type)).toBeLessThan(high);
  });

  it('has one Patient and one Provenance per patient and the rarer Synthea types', () => {
    expect(perPatient('Patient')).toBe(1);
    expect(perPatient('Provenance')).toBe(1);
    for (const type of [
      'AllergyIntolerance',
      'Goal',
      'ImagingStudy',
      'DocumentReference',
      'CareTeam',
    ]) {
      expect({ type, present: (byType[type] ?? 0) > 0 }).toEqual({ type, present: true });
    }
  });

  it('has a heavy tail: a few patients with thousands of Observations hold a large share of them', () => {
    const sorted = [...observationsPerPatient].sort((a, b) => b - a);
    const total = sorted.reduce((a, b) => a + b, 0);
    expect(sorted[0]).toBeGreaterThan(1000);
    const top = sorted.slice(0, Math.ceil(PATIENTS * 0.02)).reduce((a, b) => a + b, 0);
    expect(top / total).toBeGreaterThan(0.15);
    // ...while the median patient has a modest record.
    expect(sorted[PATIENTS / 2]).toBeLessThan(200);
  });

  it('writes Synthea-sized resources: about 1.4 kB of NDJSON each, about half a megabyte per patient', () => {
    expect(ndjsonBytes / resources).toBeGreaterThan(1000);
    expect(ndjsonBytes / resources).toBeLessThan(2000);
    expect(ndjsonBytes / PATIENTS).toBeGreaterThan(350_000);
    expect(ndjsonBytes / PATIENTS).toBeLessThan(800_000);
  });
});

describe('generatePopulation', () => {
  it('yields the Bundles of patients 0..n-1 in order, the same as generating each alone', async () => {
    const seen: string[] = [];
    for await (const bundle of generatePopulation(20, 9)) seen.push(JSON.stringify(bundle));
    expect(seen).toHaveLength(20);
    for (const i of [0, 15, 19]) expect(seen[i]).toBe(JSON.stringify(generatePatientBundle(i, 9)));
  });
});
