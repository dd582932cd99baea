import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnonymizationEngine, AnonymizationKeys, redactedStub } from './anonymization-engine';
import { ElementTypeOf } from './resource-tree';
import { readAnonymizationConfig } from './read-anonymization-config';

const FIXTURES = join(__dirname, '..', '..', 'test', 'fixtures', 'anonymization');
const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));

/** The R4 element tables, read as data (the fhir layer's own reader is not ours to import). */
const tables = (
  JSON.parse(readFileSync(join(__dirname, '..', 'fhir', 'r4-elements.json'), 'utf8')) as {
    types: Record<string, Record<string, string>>;
  }
).types;

const typeOf: ElementTypeOf = (type, key) => {
  const elements = tables[type];
  if (!elements) return undefined;
  for (const [element, spec] of Object.entries(elements)) {
    const types = spec.replace(/[!*+]$/, '').split('|');
    if (element === key) return { element, type: types[0] };
    if (element.endsWith('[x]')) {
      const base = element.slice(0, -3);
      const match = types.find((t) => key === `${base}${t[0].toUpperCase()}${t.slice(1)}`);
      if (match) return { element, type: match };
    }
  }
  return undefined;
};

const isResourceType = (type: string) =>
  /^[A-Z]/.test(type) && tables[type]?.resourceType === undefined && 'id' in (tables[type] ?? {});

function engine(
  config: unknown,
  keys: Partial<AnonymizationKeys> = {},
  now = new Date('2026-12-02T00:00:00Z'),
): AnonymizationEngine {
  const { config: parsed } = readAnonymizationConfig(JSON.stringify(config));
  return new AnonymizationEngine(
    parsed,
    { dateShiftKey: '', cryptoHashKey: '', encryptKey: '0123456789abcdef', ...keys },
    { typeOf, isResourceType, now: () => now },
  );
}

describe('AnonymizationEngine', () => {
  it("turns the reference's patient-basic.json into patient-basic-target.json (common-config, key 123)", () => {
    const config = fixture('common-config.json');
    const result = engine(config, { dateShiftKey: '123', cryptoHashKey: '123' }).anonymize(
      fixture('patient-basic.json') as Record<string, unknown>,
    );
    expect(result).toEqual(fixture('patient-basic-target.json'));
  });

  it('lets the first rule that reaches an element win, and keeps what no rule reaches', () => {
    const result = engine({
      fhirPathRules: [
        { path: 'Patient.name.family', method: 'keep' },
        { path: 'Patient.name', method: 'redact' },
      ],
    }).anonymize({
      resourceType: 'Patient',
      id: 'p1',
      gender: 'female',
      name: [{ family: 'Kept', given: ['Gone'] }],
    });
    expect(result).toEqual({
      resourceType: 'Patient',
      id: 'p1',
      gender: 'female',
      name: [{ family: 'Kept' }],
      meta: {
        security: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
            code: 'REDACTED',
            display: 'redacted',
          },
        ],
      },
    });
  });

  it('hashes ids and the id part of references with the same key, so links survive', () => {
    const result = engine(
      {
        fhirPathRules: [
          { path: 'Resource.id', method: 'cryptoHash' },
          { path: "nodesByType('Reference').reference", method: 'cryptoHash' },
        ],
      },
      { cryptoHashKey: '123' },
    ).anonymize({
      resourceType: 'Observation',
      id: '123',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/123' },
    });
    const hash = '3cafe40f92be6ac77d2792b4b267c2da11e3f3087b93bb19c6c5133786984b44';
    expect(result).toMatchObject({ id: hash, subject: { reference: `Patient/${hash}` } });
  });

  it('substitutes primitives and complex elements, and runs rules only on their resource type', () => {
    const result = engine({
      fhirPathRules: [
        { path: 'Patient.gender', method: 'substitute', replaceWith: 'unknown' },
        {
          path: "nodesByType('Address')",
          method: 'substitute',
          replaceWith: { city: 'example city' },
        },
        { path: 'Observation.status', method: 'redact' },
      ],
    }).anonymize({
      resourceType: 'Patient',
      gender: 'male',
      address: [{ line: ['1 Main St'], city: 'Springfield' }],
    });
    expect(result).toMatchObject({ gender: 'unknown', address: [{ city: 'example city' }] });
    expect((result.address as object[])[0]).toEqual({ city: 'example city' });
  });

  it('redacts an instant under partial dates by removing it, never to an invalid bare year', () => {
    const result = engine({
      fhirPathRules: [{ path: "nodesByType('instant')", method: 'redact' }],
      parameters: { enablePartialDatesForRedact: true },
    }).anonymize({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      issued: '2015-02-07T13:28:17.239+02:00',
    });
    expect(result.issued).toBeUndefined();
  });

  it('keeps partial ages of decimal Age values instead of failing on them', () => {
    const result = engine({
      fhirPathRules: [{ path: "nodesByType('Age')", method: 'redact' }],
      parameters: { enablePartialAgesForRedact: true },
    }).anonymize({
      resourceType: 'Condition',
      subject: { reference: 'Patient/p' },
      onsetAge: { value: 45.5, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
    });
    expect(result.onsetAge).toEqual({ value: 45.5 });
  });

  it("removes a primitive's `_key` sibling that redacting its extensions left empty", () => {
    const result = engine({
      fhirPathRules: [{ path: "nodesByType('Extension')", method: 'redact' }],
    }).anonymize({
      resourceType: 'Patient',
      birthDate: '1970-01-01',
      _birthDate: {
        extension: [
          {
            url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime',
            valueDateTime: '1970-01-01T08:30:00Z',
          },
        ],
      },
      name: [
        { given: ['Ann', 'Bo'], _given: [null, { extension: [{ url: 'u', valueString: 'x' }] }] },
      ],
    });
    expect(result).toEqual({
      resourceType: 'Patient',
      birthDate: '1970-01-01',
      name: [{ given: ['Ann', 'Bo'] }],
      meta: { security: [expect.objectContaining({ code: 'REDACTED' })] },
    });
  });

  it('writes the redacted stub for a resource it cannot process', () => {
    expect(redactedStub('Observation')).toEqual({
      resourceType: 'Observation',
      meta: {
        security: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
            code: 'REDACTED',
            display: 'redacted',
          },
        ],
      },
    });
  });
});
