import fc from 'fast-check';

/* Generators of hostile requests for the property-based suite (hostile-input.e2e-spec.ts). */

/** Fixed, so a failing case reproduces; FUZZ_SEED overrides it to explore further. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261202);

/** `base` cases, times FUZZ_RUNS (default 1; the long run uses 10). */
export function runs(base: number): number {
  return Math.max(1, Math.round(base * Number(process.env.FUZZ_RUNS ?? 1)));
}

/** Strings that have broken parsers, databases and encoders before. */
const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0001',
  '\u007f',
  '\uD800',
  '\uDFFF',
  '\uFFFF',
  '😀',
  'é',
  'a'.repeat(2000),
  '1e400',
  '-1e400',
  '1e-400',
  '9007199254740993',
  '0.1000000000000000055511151231257827',
  '-0',
  'NaN',
  'Infinity',
  'null',
  'true',
  '[]',
  '{}',
  '"',
  "'",
  '\\',
  '%',
  '%00',
  '%2500',
  '%zz',
  '%E0%A4%A',
  '%C0%80',
  '%ED%A0%80',
  '../../etc/passwd',
  "' OR 1=1 --",
  '$1',
  '${x}',
  '<script>alert(1)</script>',
  'urn:uuid:00000000-0000-4000-8000-000000000000',
  'http://evil.example/Patient/1',
  'Patient/',
  'Patient/..',
  '2024-13-45',
  '2024-02-30T25:61:61Z',
  '0000-00-00',
  '99999-01-01',
  '2024-01-01T00:00:00+99:00',
];

/** Escapes, separators and broken encodings a query string can carry as they are. */
const RAW_QUERY_TOKENS = [
  '%00',
  '%2500',
  '%zz',
  '%',
  '%E0%A4%A',
  '%C0%80',
  '%ED%A0%80',
  '%FF',
  '+',
  '&',
  '=',
  ',',
  ';',
  '%2C',
  '%26',
  '%3D',
  '%3F',
  '[]',
  '%5B%5D',
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
);

/**
 * A string as it may appear in a URL: percent-encoded, or with raw escapes (valid or not) in
 * it. Whatever a client library would refuse to send (space, controls, non-ASCII) is escaped.
 */
const queryComponent: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: hostileString.map((s) => encodeURIComponent(toWellFormed(s))) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom(...RAW_QUERY_TOKENS), fc.string({ maxLength: 8 })), {
        maxLength: 4,
      })
      .map((parts) => urlSafe(parts.join(''))),
  },
);

/** Percent-encodes what may not appear in a request line, leaving existing `%` alone. */
function urlSafe(text: string): string {
  return [...toWellFormed(text)]
    .map((ch) => (/^[!-~]$/.test(ch) && ch !== '#' ? ch : encodeURIComponent(ch)))
    .join('');
}

/** Lone surrogates replaced: encodeURIComponent throws on them (a client could not send them). */
function toWellFormed(text: string): string {
  return text.replace(/[\uD800-\uDFFF]/g, (ch, i: number, all: string) => {
    const code = ch.charCodeAt(0);
    const next = all.charCodeAt(i + 1);
    const previous = all.charCodeAt(i - 1);
    const paired =
      (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) ||
      (code >= 0xdc00 && previous >= 0xd800 && previous <= 0xdbff);
    return paired ? ch : '\uFFFD';
  });
}

const TYPES = ['Patient', 'Observation', 'Group', 'Condition', 'Encounter', 'Provenance'];
const typeName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TYPES) },
  { weight: 1, arbitrary: fc.constantFrom('Spaceship', 'patient', 'Resource', 'DomainResource') },
  { weight: 1, arbitrary: hostileString },
);

const dateLike = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2024', '2024-01', '2024-01-01', '2024-01-01T00:00:00Z', '2024-01-01T00:00'),
  hostileString,
);

/** `Type?name=value&…` with hostile pieces anywhere. */
const typeFilter = fc
  .tuple(
    typeName,
    fc.array(
      fc.tuple(
        fc.constantFrom('code', 'status', 'name', '_lastUpdated', 'subject', '_count', 'x'),
        fc.oneof(
          hostileString,
          dateLike.map((d) => `gt${d}`),
        ),
      ),
      { maxLength: 3 },
    ),
  )
  .map(([type, pairs]) => `${type}?${pairs.map(([n, v]) => `${n}=${v}`).join('&')}`);

const KICKOFF_PARAMETERS = [
  '_type',
  '_since',
  '_until',
  '_typeFilter',
  '_outputFormat',
  '_elements',
  'patient',
  'includeAssociatedData',
  '_container',
  'organizeOutputBy',
  'allowPartialManifests',
  '_anonymizationConfig',
];

const kickOffValue = (name: string): fc.Arbitrary<string> => {
  switch (name) {
    case '_type':
      return fc.array(typeName, { maxLength: 4 }).map((t) => t.join(','));
    case '_since':
    case '_until':
      return dateLike;
    case '_typeFilter':
      return typeFilter;
    case '_outputFormat':
      return fc.oneof(
        fc.constantFrom('application/fhir+ndjson', 'application/ndjson', 'ndjson', 'text/csv'),
        hostileString,
      );
    case '_elements':
      return fc
        .array(fc.oneof(fc.constantFrom('id', 'Patient.name', 'meta', 'x.y.z'), hostileString), {
          maxLength: 3,
        })
        .map((e) => e.join(','));
    default:
      return hostileString;
  }
};

const kickOffPair = fc.oneof(fc.constantFrom(...KICKOFF_PARAMETERS), hostileString).chain((name) =>
  fc.tuple(
    fc.constant(name),
    fc.oneof(
      kickOffValue(name).map((v) => encodeURIComponent(toWellFormed(v))),
      queryComponent,
    ),
  ),
);

const kickOffPath = fc.oneof(
  { weight: 3, arbitrary: fc.constant('/$export') },
  { weight: 2, arbitrary: fc.constant('/Patient/$export') },
  { weight: 2, arbitrary: queryComponent.map((id) => `/Group/${id || 'g'}/$export`) },
);

const kickOffHeaders = fc.record({
  Accept: fc.constantFrom('application/fhir+json', 'application/fhir+json', 'application/json'),
  Prefer: fc.constantFrom('respond-async', 'respond-async, handling=lenient', 'handling=strict'),
});

export function kickOffQueries() {
  return fc.record({
    path: kickOffPath,
    query: fc
      .array(kickOffPair, { maxLength: 6 })
      .map((pairs) =>
        pairs.map(([n, v]) => `${urlSafe(encodeURIComponent(toWellFormed(n)))}=${v}`).join('&'),
      ),
    headers: kickOffHeaders,
  });
}

const parameterValue = fc.oneof(
  fc.record({ valueString: hostileString }),
  fc.record({ valueCode: hostileString }),
  fc.record({ valueInstant: dateLike }),
  fc.record({ valueBoolean: fc.oneof(fc.boolean(), hostileString) }),
  fc.record({ valueInteger: fc.oneof(fc.integer(), fc.double()) }),
  fc.record({ resource: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ part: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 2 }) }),
  fc.jsonValue({ maxDepth: 2 }).map((v) => ({ value: v })),
);

export function kickOffParametersBodies() {
  const parameters = fc
    .array(
      fc
        .tuple(fc.oneof(fc.constantFrom(...KICKOFF_PARAMETERS), hostileString), parameterValue)
        .map(([name, value]) => ({ name, ...value })),
      { maxLength: 5 },
    )
    .map((parameter) => JSON.stringify({ resourceType: 'Parameters', parameter }));
  return fc.record({
    path: kickOffPath,
    body: fc.oneof(
      { weight: 6, arbitrary: parameters },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: rawJsonOddities },
    ),
    headers: kickOffHeaders.map((h) => ({ ...h, 'Content-Type': 'application/fhir+json' })),
  });
}

/** JSON texts that JSON.stringify cannot make: huge numbers, deep nesting, broken syntax. */
const rawJsonOddities: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 50, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 50, max: 20_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  fc.constantFrom(
    '',
    '{',
    '{"resourceType":"Patient",}',
    '{"resourceType":"Patient","resourceType":"Observation"}',
    '{"resourceType":"Patient","id":"a\\u0000b"}',
    '{"resourceType":"Patient","birthDate":"\\ud800"}',
    'null',
    '[]',
    '"Patient"',
    '{"resourceType":"Patient"} trailing',
    '\u0000',
  ),
);

const VALID_PATIENT = {
  resourceType: 'Patient',
  active: true,
  name: [{ family: 'Doe', given: ['Jane'] }],
  gender: 'female',
  birthDate: '1970-01-01',
};

const VALID_OBSERVATION = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/example' },
  valueQuantity: { value: 72, unit: 'beats/minute' },
};

const RAW = '"__RAW__"';

/** A valid resource with one element replaced, added or removed; values may be raw JSON text. */
const mutatedResource: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom<Record<string, unknown>>(VALID_PATIENT, VALID_OBSERVATION),
    fc.oneof(
      fc.constantFrom(
        'resourceType',
        'id',
        'meta',
        'active',
        'name',
        'gender',
        'birthDate',
        'status',
        'code',
        'subject',
        'valueQuantity',
        'text',
        'extension',
        'contained',
      ),
      hostileString,
    ),
    fc.oneof(
      { weight: 3, arbitrary: hostileString.map((s) => JSON.stringify(s)) },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '1e400',
          '-1e400',
          '1e-400',
          '123456789012345678901234567890',
          '0.10000000000000000000000001',
          '{"value":1e400}',
          '[{"family":"\\u0000"}]',
          '{"reference":"urn:uuid:00000000-0000-4000-8000-000000000000"}',
          '[]',
          '{}',
          'null',
        ),
      },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
  )
  .map(([base, key, raw]) => {
    const resource: Record<string, unknown> = { ...base };
    if (raw === undefined) {
      delete resource[key];
      return JSON.stringify(resource);
    }
    resource[key] = '__RAW__';
    return JSON.stringify(resource).replace(RAW, raw);
  });

export function resourceBodies() {
  return fc.record({
    method: fc.constantFrom('POST', 'PUT'),
    path: fc.oneof(
      typeName.map((t) => `/${urlSafe(encodeURIComponent(toWellFormed(t)))}`),
      fc
        .tuple(fc.constantFrom('Patient', 'Observation'), queryComponent)
        .map(([t, id]) => `/${t}/${id || 'x'}`),
    ),
    body: fc.oneof(
      { weight: 6, arbitrary: mutatedResource },
      { weight: 1, arbitrary: rawJsonOddities },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    ),
    contentType: fc.constantFrom(
      'application/fhir+json',
      'application/fhir+json',
      'application/json',
      'application/fhir+json; charset=utf-8',
      'text/plain',
      'application/xml',
    ),
  });
}

export function bundleBodies(): fc.Arbitrary<string> {
  const entry = fc
    .tuple(
      fc.oneof(
        fc.constant(undefined),
        fc.uuid().map((u) => `urn:uuid:${u}`),
        hostileString,
      ),
      fc.oneof(mutatedResource, fc.constant('null')),
      fc.oneof(fc.constantFrom('POST', 'PUT', 'GET', 'DELETE', 'PATCH'), hostileString),
      fc.oneof(
        fc.constantFrom('Patient', 'Observation', 'Patient/x', 'Patient?identifier=a|b'),
        hostileString,
      ),
    )
    .map(([fullUrl, resource, method, url]) => {
      const head = fullUrl === undefined ? '' : `"fullUrl":${JSON.stringify(fullUrl)},`;
      return `{${head}"resource":${resource},"request":${JSON.stringify({ method, url })}}`;
    });
  return fc
    .tuple(
      fc.oneof(fc.constantFrom('transaction', 'batch'), hostileString),
      fc.array(entry, { maxLength: 4 }),
    )
    .map(
      ([type, entries]) =>
        `{"resourceType":"Bundle","type":${JSON.stringify(type)},"entry":[${entries.join(',')}]}`,
    );
}

const SEARCH_PARAMETERS = [
  '_id',
  '_lastUpdated',
  'name',
  'family',
  'gender',
  'birthdate',
  'identifier',
  'subject',
  'patient',
  'code',
  'value-quantity',
  'date',
  '_count',
  '_sort',
  '_include',
  '_revinclude',
  '_summary',
  '_total',
  '_elements',
  'subject.name',
  'general-practitioner:Practitioner.name',
];

const MODIFIERS = [
  '',
  '',
  ':exact',
  ':contains',
  ':missing',
  ':not',
  ':above',
  ':below',
  ':text',
  ':in',
  ':Patient',
  ':identifier',
  ':zz',
];
const PREFIXES = ['', '', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'zz'];

export function searchQueries() {
  const pair = fc
    .tuple(
      fc.oneof(fc.constantFrom(...SEARCH_PARAMETERS), hostileString),
      fc.constantFrom(...MODIFIERS),
      fc.constantFrom(...PREFIXES),
      fc.oneof(hostileString, dateLike, fc.double().map(String)),
    )
    .map(
      ([name, modifier, prefix, value]) =>
        `${urlSafe(encodeURIComponent(toWellFormed(name)))}${modifier}=${prefix}${encodeURIComponent(toWellFormed(value))}`,
    );
  return fc.record({
    path: typeName.map((t) => `/${urlSafe(encodeURIComponent(toWellFormed(t)))}`),
    query: fc
      .array(fc.oneof({ weight: 3, arbitrary: pair }, { weight: 1, arbitrary: queryComponent }), {
        maxLength: 5,
      })
      .map((pairs) => pairs.join('&')),
  });
}

/** Header values a client can send: printable ASCII (Node refuses controls client-side). */
const headerValue = fc.oneof(
  fc.constantFrom(
    'application/fhir+json',
    'application/json',
    '*/*',
    'application/fhir+json;q=0',
    'text/html',
    'respond-async',
    'handling=lenient',
    'return=representation',
    'W/"1"',
    'W/"abc"',
    '"1"',
    '*',
    'identifier=a|b',
    'identifier=',
    '',
    'a'.repeat(4000),
  ),
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 60,
  }),
);

export function anyHeaders() {
  return fc.record({
    method: fc.constantFrom<'get' | 'post' | 'put' | 'delete'>('get', 'post', 'put', 'delete'),
    path: fc.constantFrom(
      '/Patient',
      '/Patient/x',
      '/Patient/x/_history/1',
      '/$export',
      '/Patient/$export',
      '/_operations/export/00000000-0000-4000-8000-000000000000',
      '/metadata',
      '/',
      '/health/ready',
    ),
    headers: fc.dictionary(
      fc.constantFrom(
        'Accept',
        'Prefer',
        'Content-Type',
        'If-Match',
        'If-None-Exist',
        'If-None-Match',
        'If-Modified-Since',
        'Accept-Encoding',
        'X-Forwarded-Host',
        'X-Forwarded-Proto',
        'Authorization',
        'Range',
      ),
      headerValue,
      { maxKeys: 4 },
    ),
    body: fc.oneof(
      fc.constant(undefined),
      mutatedResource,
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    ),
  });
}
