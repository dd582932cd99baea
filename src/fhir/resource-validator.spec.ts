import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FhirDefinitions } from './fhir-definitions.service';
import { MAX_ISSUES, ResourceValidator } from './resource-validator';

const validator = new ResourceValidator(new FhirDefinitions());
const problems = (resource: unknown, options = {}) =>
  validator.validate(resource, options).map((i) => `${i.code} ${i.expression}: ${i.diagnostics}`);
const paths = (resource: unknown, options = {}) =>
  validator.validate(resource, options).map((i) => i.expression);

const patient = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  name: [{ family: 'Chalmers', given: ['Peter', 'James'] }],
  birthDate: '1974-12-25',
  ...extra,
});

describe('ResourceValidator', () => {
  it('accepts a valid resource, primitive extensions and contained resources included', () => {
    expect(
      problems(
        patient({
          _birthDate: { extension: [{ url: 'http://example.org/t', valueTime: '14:35:45' }] },
          name: [
            {
              given: ['Peter', null],
              _given: [null, { id: 'g2', extension: [{ url: 'u', valueString: 'J' }] }],
            },
          ],
          contained: [{ resourceType: 'Organization', id: 'o1', name: 'Acme' }],
          managingOrganization: { reference: '#o1' },
          multipleBirthInteger: 2,
          deceasedBoolean: false,
        }),
      ),
    ).toEqual([]);
  });

  it("refuses the elements Medplum's copy of the definitions adds to R4", () => {
    expect(
      paths(patient({ meta: { versionId: '1', project: 'p', compartment: [{ reference: 'x' }] } })),
    ).toEqual(['Patient.meta.project', 'Patient.meta.compartment']);
    expect(
      paths({ resourceType: 'Binary', contentType: 'text/plain', url: 'http://x.example/b' }),
    ).toEqual(['Binary.url']);
  });

  it('names unknown elements, wrong choice suffixes and misplaced primitive extensions', () => {
    expect(
      paths({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        colour: 'red',
        valueFoo: 1,
        _code: {},
      }),
    ).toEqual(['Observation.colour', 'Observation.valueFoo', 'Observation._code']);
    expect(
      problems({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        valueFoo: 1,
      })[0],
    ).toMatch(
      /valueFoo is not an element of Observation; value\[x\] takes valueQuantity, valueCodeableConcept/,
    );
  });

  it.each([
    ['date', { birthDate: 'garbage' }, 'Patient.birthDate'],
    ['date with no such day', { birthDate: '2023-02-29' }, 'Patient.birthDate'],
    ['boolean as a string', { active: 'true' }, 'Patient.active'],
    ['code with a leading space', { gender: ' male' }, 'Patient.gender'],
    ['integer with a fraction', { multipleBirthInteger: 1.5 }, 'Patient.multipleBirthInteger'],
    ['integer out of range', { multipleBirthInteger: 2 ** 31 }, 'Patient.multipleBirthInteger'],
    [
      'dateTime without a zone',
      { deceasedDateTime: '2020-01-01T10:00:00' },
      'Patient.deceasedDateTime',
    ],
    ['empty string', { name: [{ family: '' }] }, 'Patient.name[0].family'],
    ['NUL in a string', { name: [{ family: 'a\u0000b' }] }, 'Patient.name[0].family'],
    // PostgreSQL's jsonb refuses it, and UTF-8 encoding would turn it into U+FFFD unasked.
    ['unpaired surrogate', { name: [{ given: ['a\uD800'] }] }, 'Patient.name[0].given[0]'],
    ['uri with a space', { implicitRules: 'http://a b' }, 'Patient.implicitRules'],
    ['id too long', { id: 'x'.repeat(65) }, 'Patient.id'],
    ['base64Binary', { photo: [{ data: 'not base64!' }] }, 'Patient.photo[0].data'],
  ])('refuses a bad %s', (_what, extra, path) => {
    const issues = validator.validate(patient(extra));
    expect(issues.map((i) => i.expression)).toEqual([path]);
    expect(issues[0].code).toBe('value');
  });

  it('refuses numbers JSON cannot carry exactly and wrong JSON types', () => {
    expect(
      problems({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        component: [
          { code: { text: 'a' }, valueQuantity: { value: 1 } },
          { code: { text: 'b' }, valueQuantity: { value: Infinity } },
        ],
        issued: 20200101,
      }),
    ).toEqual([
      'value Observation.component[1].valueQuantity.value: is a number too large to be stored exactly',
      'value Observation.issued: must be a JSON string (instant), not the number 20200101',
    ]);
  });

  it('checks cardinality both ways and required elements', () => {
    expect(
      problems({
        resourceType: 'Observation',
        code: [{ text: 'x' }],
        identifier: { value: 'x' },
        category: [],
        note: [null],
      }),
    ).toEqual([
      'structure Observation.code: code is a single value (max 1), not an array',
      'structure Observation.identifier: identifier repeats (max *): it must be a JSON array',
      'value Observation.category: must not be an empty array: leave the element out',
      'value Observation.note[0]: must not be null',
      'required Observation.status: is required (status is 1..) but missing',
    ]);
    expect(
      paths({
        resourceType: 'Questionnaire',
        status: 'draft',
        item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1' }] }],
      }),
    ).toEqual(['Questionnaire.item[0].item[0].type']);
  });

  it('refuses two types of one choice element and empty objects', () => {
    expect(
      paths(patient({ deceasedBoolean: true, deceasedDateTime: '2020', maritalStatus: {} })),
    ).toEqual(['Patient.deceasedDateTime', 'Patient.maritalStatus']);
  });

  it('checks extensions: url required, value or nested extensions but not both', () => {
    expect(
      problems(
        patient({
          extension: [
            { valueString: 'x' },
            { url: 'http://e', valueString: 'x', extension: [{ url: 'a', valueCode: 'b' }] },
          ],
          modifierExtension: [{ url: 'http://m' }],
        }),
      ),
    ).toEqual([
      'required Patient.extension[0].url: is required (url is 1..) but missing',
      'invariant Patient.extension[1]: an extension has either a value[x] or nested extensions, not both or neither (ext-1)',
      'invariant Patient.modifierExtension[0]: an extension has either a value[x] or nested extensions, not both or neither (ext-1)',
    ]);
  });

  it('checks the resourceType of contained and Bundle entry resources, and recurses into them', () => {
    expect(
      problems({
        resourceType: 'Bundle',
        type: 'collection',
        entry: [
          { resource: patient({ birthDate: 'garbage' }) },
          { resource: { resourceType: 'HumanName', family: 'x' } },
          { resource: { name: 'no type' } },
        ],
      }),
    ).toEqual([
      'value Bundle.entry[0].resource.birthDate: "garbage" is not a valid date',
      'value Bundle.entry[1].resource.resourceType: "HumanName" is not an R4 resource type',
      'required Bundle.entry[2].resource.resourceType: a resource must have a resourceType',
    ]);
    expect(
      paths(
        patient({
          contained: [
            { resourceType: 'Patient', contained: [{ resourceType: 'Basic', code: {} }] },
          ],
        }),
      ),
    ).toEqual(['Patient.contained[0].contained', 'Patient.contained[0].contained[0].code']);
  });

  it('checks primitive extension arrays against their values', () => {
    expect(
      problems(patient({ name: [{ given: ['a', 'b'], _given: [null, { id: 'x' }] }] })),
    ).toEqual([]);
    expect(problems(patient({ name: [{ given: ['a', 'b'], _given: [{ id: 'x' }] }] }))).toEqual([
      'structure Patient.name[0]._given: has 1 items but its element has 2',
    ]);
    expect(problems(patient({ name: [{ given: ['a'], _given: [null] }] }))).toEqual([
      'value Patient.name[0]._given: must not hold only nulls',
    ]);
  });

  it('refuses urn:uuid references outside a transaction unless the holding Bundle resolves them', () => {
    const observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0' },
    };
    expect(paths(observation)).toEqual(['Observation.subject.reference']);
    expect(paths(observation, { allowUrnReferences: true })).toEqual([]);
    const document = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0', resource: patient() },
        { fullUrl: 'urn:uuid:1c3151bd-1cbf-4d64-b04d-cd9187a4c6e0', resource: observation },
      ],
    };
    expect(paths(document)).toEqual([]);
  });

  it('resolves references against a Bundle of 200,000 entries without scanning or spreading them', () => {
    // Spreading the fullUrls into an array push overflowed the stack (a 500), and a linear
    // lookup per reference made such a Bundle take minutes.
    const urls = Array.from({ length: 200_000 }, (_, k) => `urn:uuid:${k}`);
    const basic = (k: number) => ({
      resourceType: 'Basic',
      code: { text: 'x' },
      subject: { reference: urls[urls.length - 1 - (k % 7)] },
    });
    const collection = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: urls.map((fullUrl, k) => ({
        fullUrl,
        ...(k % 1000 === 0 ? { resource: basic(k) } : {}),
      })),
    };
    expect(paths(collection)).toEqual([]);
  });

  it('validates one element of a backbone type at a given path', () => {
    expect(
      validator
        .validateElement(
          { request: { method: 'POST' }, resource: patient({ birthDate: 'x' }) },
          'Bundle.entry',
          'Bundle.entry[7]',
        )
        .map((i) => i.expression),
    ).toEqual(['Bundle.entry[7].request.url', 'Bundle.entry[7].resource.birthDate']);
  });

  it('stops at deep nesting and reports at most MAX_ISSUES problems', () => {
    let item: Record<string, unknown> = { linkId: 'leaf', type: 'display' };
    for (let i = 0; i < 200; i++) item = { linkId: `l${i}`, type: 'group', item: [item] };
    const deep = validator.validate({
      resourceType: 'Questionnaire',
      status: 'draft',
      item: [item],
    });
    expect(deep).toHaveLength(1);
    expect(deep[0].diagnostics).toMatch(/nested deeper than 100 levels/);
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x${i}`, 1]));
    expect(validator.validate(patient(many))).toHaveLength(MAX_ISSUES);
  });

  it('accepts the Synthea transaction Bundles of the fixtures', () => {
    const folder = join(__dirname, '..', '..', 'test', 'fixtures', 'synthea');
    const files = readdirSync(folder).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bundle: unknown = JSON.parse(readFileSync(join(folder, file), 'utf8'));
      expect(validator.validate(bundle, { allowUrnReferences: true })).toEqual([]);
    }
  });
});
