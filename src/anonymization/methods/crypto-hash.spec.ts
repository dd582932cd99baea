import { cryptoHash, cryptoHashReference, splitReference } from './crypto-hash';

const KEY = '123';
const HASH_123 = '3cafe40f92be6ac77d2792b4b267c2da11e3f3087b93bb19c6c5133786984b44';
const RESOURCE_TYPES = new Set(['Patient', 'Observation', 'StructureDefinition', 'Person']);
const isResourceType = (type: string): boolean => RESOURCE_TYPES.has(type);

/** Upstream ReferenceUtilityTests replace every id with `@ID`. */
function transformed(reference: string): string {
  const parts = splitReference(reference, isResourceType);
  return parts ? `${parts.prefix}@ID${parts.suffix}` : '@ID';
}

describe('cryptoHash', () => {
  it.each([
    ['abc', '8f16771f9f8851b26f4d460fa17de93e2711c7e51337cb8a608a0f81e1c1b6ae'],
    ['&*^%$@()=-,/', '33f6f7d6b3602bf5354dcb4b8d988982602349355f50f86798d8ce1ffd61521b'],
    ['ÆŊŋßſ♫∅', '1a94823f0a0f00a4b1ca771c3446dc5e17958f4dae3588ace2bca8a843eb63d9'],
    [
      'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890!@#$%^&*()=-',
      '352b5a4af5adb81fa616c2a5b5c492d0b0b544c188a9aa003767a2b5efbd1478',
    ],
    ['123', HASH_123],
    ['example', '698d54f0494528a759f19c8e87a9f99e75a5881b9267ee3926bcf62c992d84ba'],
  ])('hashes %j with key 123 to the upstream vector', (value, expected) => {
    expect(cryptoHash(value, KEY)).toBe(expected);
  });

  it('leaves the empty string unchanged', () => {
    expect(cryptoHash('', KEY)).toBe('');
  });

  it('depends on the key', () => {
    expect(cryptoHash('abc', '1234')).not.toBe(cryptoHash('abc', KEY));
  });
});

describe('splitReference (upstream ReferenceUtilityTests)', () => {
  it.each([
    ['#p1', '#@ID'],
    ['Patient/034AB16', 'Patient/@ID'],
    [
      'http://fhir.hl7.org/svc/StructureDefinition/c8973a22-2b5b-4e76-9c66-00639c99e61b',
      'http://fhir.hl7.org/svc/StructureDefinition/@ID',
    ],
    [
      'http://example.org/fhir/Observation/apo89654/_history/2',
      'http://example.org/fhir/Observation/@ID/_history/2',
    ],
    ['urn:uuid:C757873D-EC9A-4326-A141-556F43239520', 'urn:uuid:@ID'],
    ['urn:oid:1.2.3.4.5', 'urn:oid:@ID'],
    ['034AB16', '@ID'],
    ['Patient/AbcŴΉЙ', '@ID'],
    ['http://fhir.hl7.org/svc/StructureDefinitionTest/c8973a22-2b5b-4e76-9c66-00639c99e61b', '@ID'],
    ['ftp://fhir.hl7.org/svc/StructureDefinition/c8973a22-2b5b-4e76-9c66-00639c99e61b', '@ID'],
    ['wwurn:uuid:C757873D-EC9A-4326-A141-556F43239520', '@ID'],
    ['urn:oid:1.2.3=4.5', '@ID'],
  ])('transforms %s to %s', (reference, expected) => {
    expect(transformed(reference)).toBe(expected);
  });

  it.each([
    // A type that ends another word still counts, as upstream's greedy base URL lets it.
    ['http://example.org/RelatedPerson/p1', 'http://example.org/RelatedPerson/@ID'],
    ['http://example.org/Observation/Patient/7', 'http://example.org/Observation/Patient/@ID'],
    ['http://Patient/7', 'http://Patient/@ID'],
    [
      'http://example.org/fhir/Patient/a/_history/b.2',
      'http://example.org/fhir/Patient/@ID/_history/b.2',
    ],
  ])('transforms %s to %s like upstream regex backtracking', (reference, expected) => {
    expect(transformed(reference)).toBe(expected);
  });

  it.each([
    ['an unknown lower-case type', 'patient/1'],
    ['a relative reference with text before the type', 'fhir/Patient/1'],
    ['a hyphenated host, outside upstream base-URL characters', 'http://my-host.org/Patient/1'],
    ['an id longer than 64 characters', `Patient/${'a'.repeat(65)}`],
    ['a trailing slash', 'Patient/1/'],
    ['a leading zero in an oid arc', 'urn:oid:1.02.3'],
    ['a uuid without dashes', 'urn:uuid:C757873DEC9A4326A141556F43239520'],
  ])('does not split %s', (_label, reference) => {
    expect(splitReference(reference, isResourceType)).toBeUndefined();
  });

  it('returns the parts of a versioned literal reference', () => {
    expect(splitReference('Patient/1/_history/2', isResourceType)).toEqual({
      prefix: 'Patient/',
      id: '1',
      suffix: '/_history/2',
    });
  });
});

describe('cryptoHashReference', () => {
  it.each([
    ['Patient/123', `Patient/${HASH_123}`],
    ['#123', `#${HASH_123}`],
    [
      'https://example.org/fhir/Patient/123/_history/1',
      `https://example.org/fhir/Patient/${HASH_123}/_history/1`,
    ],
    ['urn:oid:1.2.3', `urn:oid:${cryptoHash('1.2.3', KEY)}`],
    [
      'urn:uuid:c757873d-ec9a-4326-a141-556f43239520',
      `urn:uuid:${cryptoHash('c757873d-ec9a-4326-a141-556f43239520', KEY)}`,
    ],
    ['Unknown/123', cryptoHash('Unknown/123', KEY)],
  ])('hashes %s to %s', (reference, expected) => {
    expect(cryptoHashReference(reference, KEY, isResourceType)).toBe(expected);
  });

  it('keeps a reference consistent with the hashed id it points at', () => {
    const id = 'example';
    expect(cryptoHashReference(`Patient/${id}`, KEY, isResourceType)).toBe(
      `Patient/${cryptoHash(id, KEY)}`,
    );
  });

  it('leaves the empty string unchanged', () => {
    expect(cryptoHashReference('', KEY, isResourceType)).toBe('');
  });
});
