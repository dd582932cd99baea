import { AnonymizationOperation } from './method-types';
import { addSecurityLabels, securityLabels } from './security-labels';

const V3 = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
const ALL: AnonymizationOperation[] = [
  'GENERALIZE',
  'SUBSTITUTE',
  'PERTURB',
  'ENCRYPT',
  'CRYPTOHASH',
  'ABSTRACT',
  'REDACT',
];

describe('securityLabels', () => {
  it.each([
    ['REDACT', { system: V3, code: 'REDACTED', display: 'redacted' }],
    ['ABSTRACT', { system: V3, code: 'ABSTRED', display: 'abstracted' }],
    ['CRYPTOHASH', { system: V3, code: 'CRYTOHASH', display: 'cryptographic hash function' }],
    ['ENCRYPT', { system: V3, code: 'MASKED', display: 'masked' }],
    ['PERTURB', { code: 'PERTURBED', display: 'exact value is replaced with another exact value' }],
    [
      'SUBSTITUTE',
      { code: 'SUBSTITUTED', display: 'exact value is replaced with a predefined value' },
    ],
    [
      'GENERALIZE',
      { code: 'GENERALIZED', display: 'exact value is replaced with a general value' },
    ],
  ] as const)('labels %s exactly as upstream', (operation, label) => {
    const labels = securityLabels(new Set([operation]));
    expect(labels).toEqual([label]);
    expect(Object.keys(labels[0])).toEqual(Object.keys(label));
  });

  it('orders labels REDACT, ABSTRACT, CRYPTOHASH, ENCRYPT, PERTURB, SUBSTITUTE, GENERALIZE', () => {
    expect(securityLabels(new Set(ALL)).map((l) => l.code)).toEqual([
      'REDACTED',
      'ABSTRED',
      'CRYTOHASH',
      'MASKED',
      'PERTURBED',
      'SUBSTITUTED',
      'GENERALIZED',
    ]);
  });

  it('follows the fixed order, not the order of the set', () => {
    const codes = securityLabels(
      new Set<AnonymizationOperation>(['PERTURB', 'CRYPTOHASH', 'REDACT']),
    );
    expect(codes.map((l) => l.code)).toEqual(['REDACTED', 'CRYTOHASH', 'PERTURBED']);
  });

  it('gives nothing for nothing', () => {
    expect(securityLabels(new Set())).toEqual([]);
  });

  it('hands out copies the caller may change', () => {
    securityLabels(new Set(['REDACT']))[0].display = 'changed';
    expect(securityLabels(new Set(['REDACT']))[0].display).toBe('redacted');
  });
});

describe('addSecurityLabels', () => {
  it('creates meta and meta.security', () => {
    const resource: Record<string, unknown> = { resourceType: 'Patient' };
    addSecurityLabels(resource, new Set(['PERTURB', 'REDACT']));
    expect(resource).toEqual({
      resourceType: 'Patient',
      meta: {
        security: [
          { system: V3, code: 'REDACTED', display: 'redacted' },
          { code: 'PERTURBED', display: 'exact value is replaced with another exact value' },
        ],
      },
    });
  });

  it('appends to existing labels, skipping codes already present', () => {
    const resource: Record<string, unknown> = {
      resourceType: 'Patient',
      meta: {
        versionId: '3',
        security: [
          { system: 'http://example.org/other', code: 'REDACTED' },
          { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' },
        ],
      },
    };
    addSecurityLabels(resource, new Set(['REDACT', 'CRYPTOHASH']));
    expect(resource.meta).toEqual({
      versionId: '3',
      security: [
        { system: 'http://example.org/other', code: 'REDACTED' },
        { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' },
        { system: V3, code: 'CRYTOHASH', display: 'cryptographic hash function' },
      ],
    });
  });

  it('does not add a label twice when called again', () => {
    const resource: Record<string, unknown> = { resourceType: 'Patient' };
    addSecurityLabels(resource, new Set(['REDACT']));
    addSecurityLabels(resource, new Set(['REDACT', 'ENCRYPT']));
    expect((resource.meta as { security: { code: string }[] }).security.map((l) => l.code)).toEqual(
      ['REDACTED', 'MASKED'],
    );
  });

  it('leaves the resource untouched when nothing was done', () => {
    const resource: Record<string, unknown> = { resourceType: 'Patient' };
    addSecurityLabels(resource, new Set());
    expect(resource).toEqual({ resourceType: 'Patient' });
  });

  it.each([
    [{ meta: 'x' }, /meta is not an object/],
    [{ meta: [] }, /meta is not an object/],
    [{ meta: { security: {} } }, /meta.security is not an array/],
  ])('refuses to overwrite a malformed %j', (resource, message) => {
    expect(() => addSecurityLabels({ ...resource }, new Set(['REDACT']))).toThrow(message);
  });
});
