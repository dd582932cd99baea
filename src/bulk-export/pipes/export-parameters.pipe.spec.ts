import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { ExportRequest, normalizedRequestKey } from '../export-request';
import {
  ExportParametersContext,
  ExportQuery,
  parseExportParameters,
  parseExportQuery,
} from './export-parameters.pipe';

const KNOWN = new Set(['Patient', 'Observation', 'Condition', 'Encounter', 'Group', 'Provenance']);
const NOW = new Date('2025-06-01T12:00:00.000Z');

function context(overrides: Partial<ExportParametersContext> = {}): ExportParametersContext {
  return {
    level: 'system',
    lenient: false,
    knownTypes: { isResourceType: (name) => KNOWN.has(name) },
    now: NOW,
    ...overrides,
  };
}

type Entry = Record<string, unknown> & { name: string };

function get(query: ExportQuery, overrides: Partial<ExportParametersContext> = {}): ExportRequest {
  return parseExportQuery(query, context(overrides));
}

function post(parameter: Entry[], overrides: Partial<ExportParametersContext> = {}): ExportRequest {
  return parseExportParameters({ resourceType: 'Parameters', parameter }, context(overrides));
}

function rejection(run: () => unknown): FhirException {
  try {
    run();
  } catch (error) {
    if (error instanceof FhirException) return error;
    throw error;
  }
  throw new Error('expected the request to be rejected');
}

function expectBadRequest(run: () => unknown, parameter: string, ...fragments: string[]): void {
  const error = rejection(run);
  expect(error.code).toBe(FhirErrorCode.BadRequest);
  expect(error.outcome.resourceType).toBe('OperationOutcome');
  expect(error.outcome.issue[0].expression).toEqual([parameter]);
  for (const fragment of fragments) expect(error.message).toContain(fragment);
}

describe('parseExportQuery and parseExportParameters', () => {
  describe('defaults', () => {
    it('gives an all-types NDJSON export for an empty query', () => {
      expect(get({})).toEqual({
        level: 'system',
        outputFormat: 'application/fhir+ndjson',
        typeFilters: [],
        lenient: false,
        warnings: [],
      });
    });

    it('gives the same for a Parameters resource without parameters', () => {
      expect(parseExportParameters({ resourceType: 'Parameters' }, context())).toEqual(get({}));
    });

    it('keeps the group id at group level', () => {
      expect(get({}, { level: 'group', groupId: 'g-1' })).toMatchObject({
        level: 'group',
        groupId: 'g-1',
      });
    });

    it('rejects a group id that is not a FHIR id', () => {
      expectBadRequest(() => get({}, { level: 'group', groupId: 'a b' }), 'Group.id', "'a b'");
    });
  });

  describe('_outputFormat', () => {
    it.each(['application/fhir+ndjson', 'application/ndjson', 'ndjson'])(
      'maps %s to application/fhir+ndjson in both forms',
      (format) => {
        expect(get({ _outputFormat: format }).outputFormat).toBe('application/fhir+ndjson');
        expect(post([{ name: '_outputFormat', valueString: format }]).outputFormat).toBe(
          'application/fhir+ndjson',
        );
      },
    );

    it('reads an unencoded + that the query parser turned into a space', () => {
      expect(get({ _outputFormat: 'application/fhir ndjson' }).outputFormat).toBe(
        'application/fhir+ndjson',
      );
    });

    it('rejects other formats naming the value', () => {
      expectBadRequest(() => get({ _outputFormat: 'text/csv' }), '_outputFormat', "'text/csv'");
      expectBadRequest(
        () => post([{ name: '_outputFormat', valueString: 'application/fhir+json' }]),
        '_outputFormat',
        "'application/fhir+json'",
      );
    });

    it('rejects it given twice', () => {
      expectBadRequest(
        () => get({ _outputFormat: ['ndjson', 'ndjson'] }),
        '_outputFormat',
        'only once',
      );
    });
  });

  describe('_since and _until', () => {
    it('keeps the offset and pads to milliseconds', () => {
      const request = get({
        _since: '2024-01-31T12:00:00+02:00',
        _until: '2024-02-01T08:30:15.5-05:00',
      });
      expect(request.since).toBe('2024-01-31T12:00:00.000+02:00');
      expect(request.until).toBe('2024-02-01T08:30:15.500-05:00');
    });

    it('truncates sub-millisecond bounds, since lastUpdated has millisecond precision', () => {
      // _until .1231 must not select a resource stamped at .124, which is after it.
      const request = get({
        _since: '2024-01-31T12:00:00.1239Z',
        _until: '2024-01-31T13:00:00.1231Z',
      });
      expect(request.since).toBe('2024-01-31T12:00:00.123Z');
      expect(request.until).toBe('2024-01-31T13:00:00.123Z');
    });

    it('reads an unencoded + before the offset that arrived as a space in GET', () => {
      expect(get({ _since: '2024-01-31T12:00:00 02:00' }).since).toBe(
        '2024-01-31T12:00:00.000+02:00',
      );
    });

    it('accepts valueInstant and valueDateTime of instant precision in POST', () => {
      const request = post([
        { name: '_since', valueInstant: '2024-01-31T12:00:00Z' },
        { name: '_until', valueDateTime: '2024-02-01T00:00:00.250+01:00' },
      ]);
      expect(request.since).toBe('2024-01-31T12:00:00.000Z');
      expect(request.until).toBe('2024-02-01T00:00:00.250+01:00');
    });

    it.each([
      '2024-01-31',
      '2024-01-31T12:00',
      '2024-01-31T12:00:00',
      '2024-02-30T12:00:00Z',
      '2023-02-29T00:00:00Z',
      '2024-01-31 12:00:00Z',
      '2024-01-31T24:00:00Z',
      '2024-01-31T12:00:00+15:00',
      'yesterday',
      '',
    ])('rejects _since %s as not an instant', (since) => {
      expectBadRequest(() => get({ _since: since }), '_since', `'${since}'`, 'instant');
    });

    it('accepts 29 February in a leap year', () => {
      expect(get({ _since: '2024-02-29T00:00:00Z' }).since).toBe('2024-02-29T00:00:00.000Z');
    });

    it('rejects a valueDateTime without time in POST', () => {
      expectBadRequest(
        () => post([{ name: '_since', valueDateTime: '2024-01-31' }]),
        '_since',
        "'2024-01-31'",
      );
    });

    it('rejects _since in the future, comparing with the injected clock', () => {
      expectBadRequest(
        () => get({ _since: '2025-06-01T12:00:00.001Z' }),
        '_since',
        'in the future',
      );
      expect(get({ _since: '2025-06-01T12:00:00.000Z' }).since).toBe('2025-06-01T12:00:00.000Z');
      expect(get({ _since: '2025-06-01T13:59:00+02:00' }).since).toBe(
        '2025-06-01T13:59:00.000+02:00',
      );
    });

    it('rejects _until in the future', () => {
      expectBadRequest(
        () => post([{ name: '_until', valueInstant: '2030-01-01T00:00:00Z' }]),
        '_until',
        'in the future',
      );
    });

    it('rejects _until before _since, comparing instants across offsets', () => {
      expectBadRequest(
        () => get({ _since: '2024-01-31T12:00:00Z', _until: '2024-01-31T13:00:00+02:00' }),
        '_until',
        'before _since',
      );
      expect(
        get({ _since: '2024-01-31T12:00:00Z', _until: '2024-01-31T14:00:00+02:00' }).until,
      ).toBe('2024-01-31T14:00:00.000+02:00');
    });

    it('takes _till as an alias of _until in both forms', () => {
      expect(get({ _till: '2024-01-31T12:00:00Z' }).until).toBe('2024-01-31T12:00:00.000Z');
      expect(post([{ name: '_till', valueInstant: '2024-01-31T12:00:00Z' }]).until).toBe(
        '2024-01-31T12:00:00.000Z',
      );
      expectBadRequest(() => get({ _till: 'soon' }), '_till', "'soon'");
    });

    it('rejects _until and _till together', () => {
      expectBadRequest(
        () => get({ _until: '2024-01-31T12:00:00Z', _till: '2024-01-31T12:00:00Z' }),
        '_till',
        '_until and its alias _till',
      );
    });

    it('rejects _since given twice', () => {
      expectBadRequest(
        () =>
          post([
            { name: '_since', valueInstant: '2024-01-31T12:00:00Z' },
            { name: '_since', valueInstant: '2024-01-30T12:00:00Z' },
          ]),
        '_since',
        'only once',
      );
    });

    it('rejects a value type that cannot hold an instant', () => {
      expectBadRequest(
        () => post([{ name: '_since', valueBoolean: true }]),
        '_since',
        'not valueBoolean',
      );
    });
  });

  describe('_type', () => {
    it('sorts and de-duplicates the types', () => {
      expect(get({ _type: 'Patient,Observation,Patient' }).types).toEqual([
        'Observation',
        'Patient',
      ]);
    });

    it('treats repeated _type like comma-separated values in GET and POST', () => {
      const commas = get({ _type: 'Patient,Observation' });
      expect(get({ _type: ['Observation', 'Patient'] })).toEqual(commas);
      expect(
        post([
          { name: '_type', valueString: 'Observation' },
          { name: '_type', valueCode: 'Patient' },
        ]),
      ).toEqual(commas);
      expect(post([{ name: '_type', valueString: 'Patient, Observation' }])).toEqual(commas);
    });

    it('rejects an unknown type naming it', () => {
      expectBadRequest(() => get({ _type: 'Patient,Spaceship' }), '_type', "'Spaceship'");
      expectBadRequest(
        () => post([{ name: '_type', valueString: 'patient' }]),
        '_type',
        "'patient'",
      );
    });

    it('skips an unknown type with a warning under lenient handling', () => {
      const request = get({ _type: 'Patient,Spaceship' }, { lenient: true });
      expect(request.types).toEqual(['Patient']);
      expect(request.lenient).toBe(true);
      expect(request.warnings).toEqual([expect.stringContaining("_type 'Spaceship'")]);
    });

    it('exports no type, not every type, when lenient handling skipped all of them', () => {
      expect(get({ _type: 'Spaceship' }, { lenient: true }).types).toEqual([]);
    });

    it.each(['', 'Patient,,Observation', 'Patient,'])('rejects empty items in _type=%s', (type) => {
      expectBadRequest(() => get({ _type: type }), '_type', 'empty item');
    });
  });

  describe('_container', () => {
    it('accepts a valid container name', () => {
      expect(get({ _container: 'my-exports1' }).container).toBe('my-exports1');
      expect(post([{ name: '_container', valueString: 'my-exports1' }]).container).toBe(
        'my-exports1',
      );
    });

    it.each(['export-20261126t065348-8fca80ae', 'export-20261126t065348'])(
      'refuses the server-reserved container name %s, so no export can reach another one',
      (name) => {
        expect(() => get({ _container: name })).toThrow(/reserved/);
      },
    );

    it.each(['ab', 'Abc', 'a--b', '-ab', 'ab-', 'a'.repeat(64), 'my_exports', ''])(
      'rejects the container name %s',
      (name) => {
        expectBadRequest(() => get({ _container: name }), '_container', `'${name.slice(0, 64)}`);
      },
    );

    it.each(['../x', 'a/b', 'a\\b', 'abc..def', 'abc%2Fdef', 'abc%2fdef'])(
      'rejects the path-like container name %s',
      (name) => {
        expectBadRequest(() => get({ _container: name }), '_container', 'not a path');
      },
    );

    it('accepts a 63-character name', () => {
      const name = 'a'.repeat(63);
      expect(get({ _container: name }).container).toBe(name);
    });
  });

  describe('_typeFilter', () => {
    it('canonicalises the query by sorting its parameters', () => {
      expect(get({ _typeFilter: 'Observation?status=final&code=1234-5' }).typeFilters).toEqual([
        { type: 'Observation', query: 'code=1234-5&status=final' },
      ]);
    });

    it('splits GET values only on commas that start a new Type? segment', () => {
      const request = get({
        _typeFilter: 'Observation?code=a,b,c&status=final,Condition?clinical-status=active',
      });
      expect(request.typeFilters).toEqual([
        { type: 'Condition', query: 'clinical-status=active' },
        { type: 'Observation', query: 'code=a,b,c&status=final' },
      ]);
    });

    it('keeps an encoded comma and equals sign inside a value', () => {
      const request = get({
        _typeFilter: 'Observation?code=http%3A%2F%2Floinc.org%7C1%2C2&note=a%3Db,Patient?name=x',
      });
      expect(request.typeFilters).toEqual([
        { type: 'Observation', query: 'code=http%3A%2F%2Floinc.org%7C1%2C2&note=a%3Db' },
        { type: 'Patient', query: 'name=x' },
      ]);
    });

    it('keeps a literal = inside a value', () => {
      expect(get({ _typeFilter: 'Observation?note=a=b' }).typeFilters).toEqual([
        { type: 'Observation', query: 'note=a=b' },
      ]);
    });

    it('upper-cases percent-escapes so equal filters compare equal', () => {
      expect(get({ _typeFilter: 'Observation?code=a%2cb' }).typeFilters).toEqual([
        { type: 'Observation', query: 'code=a%2Cb' },
      ]);
    });

    it('treats repeated filters, comma-joined filters and POST parameters alike', () => {
      const joined = get({ _typeFilter: 'Patient?gender=female,Observation?code=a,b' });
      expect(get({ _typeFilter: ['Observation?code=a,b', 'Patient?gender=female'] })).toEqual(
        joined,
      );
      expect(
        post([
          { name: '_typeFilter', valueString: 'Observation?code=a,b' },
          { name: '_typeFilter', valueString: 'Patient?gender=female' },
        ]),
      ).toEqual(joined);
      expect(
        post([{ name: '_typeFilter', valueString: 'Patient?gender=female,Observation?code=a,b' }]),
      ).toEqual(joined);
    });

    it('refuses any parameter carrying a control character before it can reach a warning or the job row', () => {
      expectBadRequest(
        () => get({ _typeFilter: 'Observation?code=a\u0000b' }),
        '_typeFilter',
        'control character',
      );
      expectBadRequest(
        () => get({ includeAssociatedData: 'a\u0000b' }, { lenient: true }),
        'includeAssociatedData',
        'control character',
      );
      expectBadRequest(
        () => post([{ name: 'patient', valueReference: { reference: 'Patient/\u0001' } }]),
        'patient',
        'control character',
      );
      expectBadRequest(
        () => get({ 'x\u0000': 'y' }, { lenient: true }),
        'Parameters',
        'control character',
      );
      // Found by the fuzz suite: echoed into a lenient warning, it made the job row's jsonb fail.
      expectBadRequest(
        () => post([{ name: '\udfff', valueInstant: '2024' }], { lenient: true }),
        'Parameters',
        'unpaired surrogate',
      );
    });

    it('drops duplicate filters', () => {
      expect(
        get({ _typeFilter: ['Patient?gender=female', 'Patient?gender=female'] }).typeFilters,
      ).toHaveLength(1);
    });

    it('requires the filter type to be in _type when _type is given', () => {
      expect(
        get({ _type: 'Observation', _typeFilter: 'Observation?code=a' }).typeFilters,
      ).toHaveLength(1);
      expectBadRequest(
        () => get({ _type: 'Observation', _typeFilter: 'Condition?code=a' }),
        '_typeFilter',
        "'Condition?code=a'",
        'not in _type',
      );
    });

    it('rejects an unknown filter type unless lenient, then warns and skips it', () => {
      expectBadRequest(
        () => get({ _typeFilter: 'Spaceship?name=x' }),
        '_typeFilter',
        "'Spaceship?name=x'",
      );
      const request = get({ _typeFilter: 'Spaceship?name=x,Patient?name=y' }, { lenient: true });
      expect(request.typeFilters).toEqual([{ type: 'Patient', query: 'name=y' }]);
      expect(request.warnings).toEqual([expect.stringContaining("'Spaceship?name=x'")]);
    });

    it.each([
      ['Observation', 'ResourceType?'],
      ['observation?code=a', 'not a resource type name'],
      ['Observation?', 'no search parameters'],
      ['Observation?code', "'code' has no value"],
      ['Observation?code=', "'code' has no value"],
      ['Observation?=a', 'not a search parameter name'],
      ['Observation?code=%zz', 'malformed percent-escape'],
      ['Observation?code=%E0%A4%A', 'malformed percent-escape'],
      // `%00` in the filter as the server received it, and `%2500` (which the query string
      // decodes to `%00`): a NUL that PostgreSQL would refuse with a 500 mid-export.
      ['Observation?code=%00', 'control character'],
      ['Observation?co%01de=a', 'control character'],
      ['', 'ResourceType?'],
    ])('rejects the malformed filter %s', (filter, reason) => {
      expectBadRequest(() => get({ _typeFilter: filter }), '_typeFilter', `'${filter}'`, reason);
    });

    it.each([
      '_include=Observation:patient',
      '_revinclude:iterate=Provenance:target',
      '_sort=date',
      '_elements=id',
      '_count=10',
      '_summary=true',
    ])('rejects the result parameter in Observation?%s', (query) => {
      expectBadRequest(
        () => post([{ name: '_typeFilter', valueString: `Observation?code=a&${query}` }]),
        '_typeFilter',
        'result parameter',
      );
    });

    it('accepts modifiers, chains and _has in search parameter names', () => {
      expect(
        get({
          _typeFilter:
            'Observation?code:in=http://vs&subject:Patient.name=x&_has:Provenance:target:agent=y',
        }).typeFilters,
      ).toHaveLength(1);
    });

    it('accepts _typeFilter only as valueString in POST', () => {
      expectBadRequest(
        () => post([{ name: '_typeFilter', valueBoolean: true }]),
        '_typeFilter',
        'valueBoolean',
      );
    });
  });

  describe('_elements', () => {
    it('keeps element and Type.element items sorted and unique, repeated like comma-separated', () => {
      const commas = get({ _elements: 'status,Observation.code,status' });
      expect(commas.elements).toEqual(['Observation.code', 'status']);
      expect(get({ _elements: ['Observation.code', 'status'] })).toEqual(commas);
      expect(
        post([
          { name: '_elements', valueString: 'status' },
          { name: '_elements', valueString: 'Observation.code' },
        ]),
      ).toEqual(commas);
    });

    it.each(['Observation.', 'code-value', 'Observation.code.coding', '.code'])(
      'rejects %s as not an element',
      (element) => {
        expectBadRequest(() => get({ _elements: element }), '_elements', `'${element}'`);
      },
    );

    it('rejects an unknown type unless lenient, then warns and skips it', () => {
      expectBadRequest(() => get({ _elements: 'Spaceship.name' }), '_elements', "'Spaceship");
      const request = get({ _elements: 'Spaceship.name,status' }, { lenient: true });
      expect(request.elements).toEqual(['status']);
      expect(request.warnings).toHaveLength(1);
    });

    it('rejects empty items', () => {
      expectBadRequest(() => get({ _elements: 'id,,meta' }), '_elements', 'empty item');
    });
  });

  describe('patient', () => {
    const patients = [
      { name: 'patient', valueReference: { reference: 'Patient/123' } },
      { name: 'patient', valueReference: { reference: 'Patient/abc' } },
      { name: 'patient', valueReference: { reference: 'Patient/123' } },
    ];

    it('takes Patient ids from POST valueReference at patient and group level', () => {
      expect(post(patients, { level: 'patient' }).patients).toEqual(['123', 'abc']);
      expect(post(patients, { level: 'group', groupId: 'g' }).patients).toEqual(['123', 'abc']);
    });

    it('rejects patient at system level', () => {
      expectBadRequest(() => post(patients), 'patient', 'system level');
    });

    it('rejects patient in GET, pointing to POST', () => {
      expectBadRequest(
        () => get({ patient: 'Patient/123' }, { level: 'patient' }),
        'patient',
        'POST',
      );
    });

    it.each([
      [{ reference: 'Observation/1' }, "'Observation/1'"],
      [{ reference: 'Patient/' }, "'Patient/'"],
      [{ reference: 'Patient/1/_history/2' }, "'Patient/1/_history/2'"],
      [{ reference: 'https://other/fhir/Patient/1' }, "'https://other/fhir/Patient/1'"],
      [{ identifier: { value: '1' } }, 'without one'],
      ['Patient/1', 'without one'],
    ])('rejects the reference %j', (valueReference, fragment) => {
      expectBadRequest(
        () => post([{ name: 'patient', valueReference }], { level: 'patient' }),
        'patient',
        fragment,
      );
    });

    it('rejects patient given as a string', () => {
      expectBadRequest(
        () => post([{ name: 'patient', valueString: 'Patient/1' }], { level: 'patient' }),
        'patient',
        'valueReference',
      );
    });
  });

  describe('includeAssociatedData', () => {
    it('accepts the IG codes and _custom values, repeated like comma-separated', () => {
      const commas = get({ includeAssociatedData: 'RelevantProvenanceResources,_customMine' });
      expect(commas.includeAssociatedData).toEqual(['RelevantProvenanceResources', '_customMine']);
      expect(
        post([
          { name: 'includeAssociatedData', valueCode: '_customMine' },
          { name: 'includeAssociatedData', valueCode: 'RelevantProvenanceResources' },
        ]),
      ).toEqual(commas);
      expect(
        get({ includeAssociatedData: 'LatestProvenanceResources' }).includeAssociatedData,
      ).toEqual(['LatestProvenanceResources']);
    });

    it('rejects an unsupported value unless lenient, then warns and drops it', () => {
      expectBadRequest(
        () => get({ includeAssociatedData: 'AllTheThings' }),
        'includeAssociatedData',
        "'AllTheThings'",
      );
      const request = get({ includeAssociatedData: 'AllTheThings' }, { lenient: true });
      expect(request.includeAssociatedData).toBeUndefined();
      expect(request.warnings).toEqual([expect.stringContaining("'AllTheThings'")]);
    });
  });

  describe('unknown parameters', () => {
    it('rejects an unknown parameter naming it', () => {
      expectBadRequest(() => get({ _foo: 'x' }), '_foo', "'_foo'");
      expectBadRequest(() => post([{ name: '_foo', valueString: 'x' }]), '_foo', "'_foo'");
    });

    it('treats parameter names as case-sensitive', () => {
      expectBadRequest(() => get({ _TYPE: 'Patient' }), '_TYPE', "'_TYPE'");
    });

    it('names an IG parameter the server does not implement as unsupported', () => {
      expectBadRequest(
        () => post([{ name: 'allowPartialManifests', valueBoolean: true }]),
        'allowPartialManifests',
        'not supported',
      );
    });

    it('skips unknown parameters with one warning each under lenient handling', () => {
      const request = get(
        { _foo: 'x', _type: 'Patient', organizeOutputBy: 'Patient' },
        { lenient: true },
      );
      expect(request.types).toEqual(['Patient']);
      expect(request.warnings).toEqual([
        expect.stringContaining("'_foo'"),
        expect.stringContaining("'organizeOutputBy'"),
      ]);
    });

    it('rejects a nested query value', () => {
      expectBadRequest(() => get({ _type: { a: 'Patient' } }), '_type', 'name=value');
    });
  });

  describe('POST body shape', () => {
    it.each([
      [null, 'Parameters'],
      [[], 'Parameters'],
      ['_type=Patient', 'Parameters'],
      [{ resourceType: 'Patient' }, "got 'Patient'"],
      [{ parameter: [] }, 'no resourceType'],
    ])('rejects the body %j', (body, fragment) => {
      expectBadRequest(() => parseExportParameters(body, context()), 'Parameters', fragment);
    });

    it('rejects a non-array parameter list', () => {
      expectBadRequest(
        () => parseExportParameters({ resourceType: 'Parameters', parameter: {} }, context()),
        'Parameters.parameter',
      );
    });

    it('rejects an entry without a name', () => {
      expectBadRequest(
        () =>
          parseExportParameters(
            { resourceType: 'Parameters', parameter: [{ valueString: 'x' }] },
            context(),
          ),
        'Parameters.parameter[0].name',
      );
    });

    it('rejects an entry with two values, with none, or with parts', () => {
      expectBadRequest(
        () => post([{ name: '_type', valueString: 'Patient', valueCode: 'Patient' }]),
        '_type',
        'exactly one',
      );
      expectBadRequest(() => post([{ name: '_type' }]), '_type', 'exactly one');
      expectBadRequest(() => post([{ name: '_type', part: [] }]), '_type', 'part');
    });

    it('rejects a value type the operation does not use', () => {
      expectBadRequest(
        () => post([{ name: '_type', valueQuantity: { value: 1 } }]),
        '_type',
        'valueQuantity',
      );
    });

    it('rejects a valueString that is not a string', () => {
      expectBadRequest(
        () => post([{ name: '_type', valueString: 42 }]),
        '_type',
        'must be a string',
      );
    });

    it('gives the same request as the equivalent GET', () => {
      const query = {
        _outputFormat: 'ndjson',
        _since: '2024-01-31T12:00:00Z',
        _type: 'Patient,Observation',
        _typeFilter: 'Observation?code=a,b',
        _elements: 'id',
        _container: 'my-exports1',
      };
      const parameters = Object.entries(query).map(([name, valueString]) => ({
        name,
        valueString,
      }));
      expect(post(parameters)).toEqual(get(query));
    });
  });
});

describe('normalizedRequestKey', () => {
  it('is equal for _type=Patient,Observation and _type=Observation&_type=Patient', () => {
    expect(normalizedRequestKey(get({ _type: 'Patient,Observation' }))).toBe(
      normalizedRequestKey(get({ _type: ['Observation', 'Patient'] })),
    );
  });

  it('differs when _since differs', () => {
    expect(normalizedRequestKey(get({ _since: '2024-01-31T12:00:00Z' }))).not.toBe(
      normalizedRequestKey(get({ _since: '2024-01-31T12:00:01Z' })),
    );
  });

  it('is equal for the same instant written in two offsets', () => {
    expect(normalizedRequestKey(get({ _since: '2024-01-31T12:00:00Z' }))).toBe(
      normalizedRequestKey(get({ _since: '2024-01-31T14:00:00+02:00' })),
    );
  });

  it('ignores lenient, but not the warnings a lenient request gets in its manifest', () => {
    expect(normalizedRequestKey(get({ _type: 'Patient' }, { lenient: true }))).toBe(
      normalizedRequestKey(get({ _type: 'Patient' })),
    );
    expect(normalizedRequestKey(get({ _type: 'Patient,Spaceship' }, { lenient: true }))).not.toBe(
      normalizedRequestKey(get({ _type: 'Patient' })),
    );
  });

  it('is equal for GET and POST of the same export, and for filters in any order', () => {
    expect(normalizedRequestKey(get({ _typeFilter: 'Patient?b=2&a=1,Observation?code=x' }))).toBe(
      normalizedRequestKey(
        post([
          { name: '_typeFilter', valueString: 'Observation?code=x' },
          { name: '_typeFilter', valueString: 'Patient?a=1&b=2' },
        ]),
      ),
    );
  });

  it.each<[string, ExportQuery, ExportQuery]>([
    ['_type', { _type: 'Patient' }, { _type: 'Observation' }],
    ['no _type and an empty _type', {}, { _type: 'Spaceship' }],
    ['_typeFilter', { _typeFilter: 'Patient?a=1' }, { _typeFilter: 'Patient?a=2' }],
    ['_until', { _until: '2024-01-31T12:00:00Z' }, {}],
    ['_elements', { _elements: 'id' }, {}],
    ['_container', { _container: 'abc' }, { _container: 'abd' }],
    ['includeAssociatedData', { includeAssociatedData: 'LatestProvenanceResources' }, {}],
  ])('differs when %s differs', (_what, a, b) => {
    expect(normalizedRequestKey(get(a, { lenient: true }))).not.toBe(
      normalizedRequestKey(get(b, { lenient: true })),
    );
  });

  it('differs by level, group and patients', () => {
    const group = (groupId: string, parameter: Entry[] = []) =>
      normalizedRequestKey(post(parameter, { level: 'group', groupId }));
    expect(group('a')).not.toBe(group('b'));
    expect(group('a')).not.toBe(normalizedRequestKey(get({}, { level: 'patient' })));
    expect(group('a', [{ name: 'patient', valueReference: { reference: 'Patient/1' } }])).not.toBe(
      group('a'),
    );
  });
});
