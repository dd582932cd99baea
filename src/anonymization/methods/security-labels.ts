import { AnonymizationOperation, Coding } from './method-types';

const OBSERVATION_VALUE = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';

/** Upstream `SecurityLabels`, in the fixed order they are added (docs/anonymization.md §3). */
const LABELS: readonly [AnonymizationOperation, Coding][] = [
  ['REDACT', { system: OBSERVATION_VALUE, code: 'REDACTED', display: 'redacted' }],
  ['ABSTRACT', { system: OBSERVATION_VALUE, code: 'ABSTRED', display: 'abstracted' }],
  // Upstream's spelling, kept so consumers matching its labels still match.
  [
    'CRYPTOHASH',
    { system: OBSERVATION_VALUE, code: 'CRYTOHASH', display: 'cryptographic hash function' },
  ],
  ['ENCRYPT', { system: OBSERVATION_VALUE, code: 'MASKED', display: 'masked' }],
  ['PERTURB', { code: 'PERTURBED', display: 'exact value is replaced with another exact value' }],
  [
    'SUBSTITUTE',
    { code: 'SUBSTITUTED', display: 'exact value is replaced with a predefined value' },
  ],
  ['GENERALIZE', { code: 'GENERALIZED', display: 'exact value is replaced with a general value' }],
];

/** The `meta.security` codings for what was done, in upstream's fixed order, not event order. */
export function securityLabels(operations: ReadonlySet<AnonymizationOperation>): Coding[] {
  return LABELS.filter(([operation]) => operations.has(operation)).map(([, label]) => ({
    ...label,
  }));
}

/**
 * Appends the labels for `operations` to the resource's `meta.security`, creating `meta` and
 * `security` as needed and skipping a code already there (upstream
 * `ResourceProcessor.AddSecurityTag`, docs/anonymization.md §3). Throws when `meta` or
 * `meta.security` exists with the wrong shape rather than overwrite it.
 */
export function addSecurityLabels(
  resource: Record<string, unknown>,
  operations: ReadonlySet<AnonymizationOperation>,
): void {
  const labels = securityLabels(operations);
  if (labels.length === 0) return;
  const meta = (resource.meta ??= {});
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new TypeError('Resource meta is not an object');
  }
  const record = meta as Record<string, unknown>;
  const security = (record.security ??= []);
  if (!Array.isArray(security)) throw new TypeError('Resource meta.security is not an array');
  const present = new Set(security.map((coding) => codeOf(coding)));
  for (const label of labels) {
    if (!present.has(label.code)) security.push(label);
  }
}

function codeOf(coding: unknown): unknown {
  return typeof coding === 'object' && coding !== null
    ? (coding as { code?: unknown }).code
    : undefined;
}
