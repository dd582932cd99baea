import { DataSource } from 'typeorm';
import {
  batch,
  newId,
  observation,
  patient,
  postEntry,
  putEntry,
  transaction,
  urnUuid,
} from './support/factories';
import { api, useTestApp } from './support/test-app';

const FHIR_JSON = 'application/fhir+json';

interface Outcome {
  resourceType: string;
  issue: Array<{ severity: string; code: string; diagnostics: string; expression?: string[] }>;
}

/** The expression of each issue, after checking that the body is an all-error OperationOutcome. */
function issuesOf(body: Outcome): Array<[code: string, expression: string | undefined]> {
  expect(body.resourceType).toBe('OperationOutcome');
  for (const issue of body.issue) {
    expect(issue.severity).toBe('error');
    expect(issue.diagnostics).toEqual(expect.any(String));
  }
  return body.issue.map((i) => [i.code, i.expression?.[0]]);
}

describe('FHIR REST: refusing resources that are not valid R4, writing nothing', () => {
  const t = useTestApp({ MAX_BODY_SIZE: '64kb' });

  const http = () => api(t.app);
  const post = (url: string, body: string, headers: Record<string, string> = {}) =>
    http().post(url).set('Content-Type', FHIR_JSON).set(headers).send(body);
  const put = (url: string, body: string) =>
    http().put(url).set('Content-Type', FHIR_JSON).send(body);
  const rows = async (): Promise<number> => {
    const [row] = await t.app.get(DataSource).query('SELECT count(*)::int AS n FROM resource');
    return (row as { n: number }).n;
  };
  /** Runs `send` and checks that the resource table has as many rows after as before. */
  const unchanged = async <T>(send: () => Promise<T>): Promise<T> => {
    const before = await rows();
    const result = await send();
    expect(await rows()).toBe(before);
    return result;
  };

  it('answers 400 to a NUL character in a string, naming its path, on create and update', async () => {
    const body = JSON.stringify(patient({ name: [{ family: 'Nul\u0000l', given: ['A'] }] }));
    expect(body).toContain('\\u0000');
    const res = await unchanged(() => post('/Patient', body).expect(400));
    expect(issuesOf(res.body as Outcome)).toEqual([['value', 'Patient.name[0].family']]);
    expect((res.body as Outcome).issue[0].diagnostics).toMatch(/NUL character/);
    const id = newId();
    await unchanged(() =>
      put(`/Patient/${id}`, JSON.stringify(patient({ id, gender: 'fe\u0000male' }))).expect(400),
    );
    await http().get(`/Patient/${id}`).expect(404);
  });

  it('answers 400 to JSON nested 10,000 levels deep, before parsing it', async () => {
    const deep = `{"resourceType":"Patient","extension":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const res = await unchanged(() => post('/Patient', deep).expect(400));
    const [[code, expression]] = issuesOf(res.body as Outcome);
    expect(code).toBe('structure');
    expect(expression).toMatch(/^\$\.extension(\[0\])+$/);
    expect((res.body as Outcome).issue[0].diagnostics).toMatch(/nested deeper than 100 levels/);
    const inBundle = `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":${deep},"request":{"method":"POST","url":"Patient"}}]}`;
    await unchanged(() => post('/', inBundle).expect(400));
  });

  it('answers 400 to numbers JSON cannot carry exactly (1e400, 20 significant digits)', async () => {
    const body = JSON.stringify(observation('Patient/p1', { valueQuantity: { value: 0 } })).replace(
      '"value":0',
      '"value":1e400',
    );
    expect(body).toContain('"value":1e400');
    const res = await unchanged(() => post('/Observation', body).expect(400));
    expect(issuesOf(res.body as Outcome)).toEqual([['value', 'Observation.valueQuantity.value']]);
    expect((res.body as Outcome).issue[0].diagnostics).toMatch(/1e400/);

    const components = JSON.stringify(
      observation('Patient/p1', {
        valueQuantity: undefined,
        component: [
          { code: { text: 'a' }, valueQuantity: { value: 1 } },
          { code: { text: 'b' }, valueQuantity: { value: 2 } },
        ],
      }),
    ).replace('"value":2', '"value":12345678901234567890');
    const precision = await unchanged(() => post('/Observation', components).expect(400));
    expect(issuesOf(precision.body as Outcome)).toEqual([
      ['value', 'Observation.component[1].valueQuantity.value'],
    ]);
  });

  it('answers 400 to birthDate "garbage"', async () => {
    const res = await unchanged(() =>
      post('/Patient', JSON.stringify(patient({ birthDate: 'garbage' }))).expect(400),
    );
    expect(issuesOf(res.body as Outcome)).toEqual([['value', 'Patient.birthDate']]);
    expect((res.body as Outcome).issue[0].diagnostics).toContain('"garbage" is not a valid date');
  });

  it('answers 400 to unknown elements and wrong choice suffixes', async () => {
    const res = await unchanged(() =>
      post(
        '/Patient',
        JSON.stringify(patient({ favouriteColour: 'blue', deceasedString: 'no' })),
      ).expect(400),
    );
    expect(issuesOf(res.body as Outcome)).toEqual([
      ['structure', 'Patient.favouriteColour'],
      ['structure', 'Patient.deceasedString'],
    ]);
    expect((res.body as Outcome).issue[1].diagnostics).toMatch(
      /deceased\[x\] takes deceasedBoolean, deceasedDateTime/,
    );
  });

  it('answers 400 to a urn:uuid reference outside a transaction', async () => {
    const res = await unchanged(() =>
      post('/Observation', JSON.stringify(observation(urnUuid()))).expect(400),
    );
    expect(issuesOf(res.body as Outcome)).toEqual([['invalid', 'Observation.subject.reference']]);
    const id = newId();
    await unchanged(() =>
      put(`/Observation/${id}`, JSON.stringify(observation(urnUuid(), { id }))).expect(400),
    );
  });

  it('answers 413 to a body over MAX_BODY_SIZE', async () => {
    const big = JSON.stringify(patient({ name: [{ family: 'x'.repeat(100_000) }] }));
    const res = await unchanged(() => post('/Patient', big).expect(413));
    expect(issuesOf(res.body as Outcome)).toEqual([['too-long', undefined]]);
  });

  it('reports every wrong type, cardinality and missing required element, each with its path', async () => {
    const res = await unchanged(() =>
      post(
        '/Observation',
        JSON.stringify({
          resourceType: 'Observation',
          code: [{ text: 'weight' }],
          subject: 'Patient/1',
          identifier: { value: 'x' },
          valueQuantity: { value: '72.5' },
          extension: [{ valueString: 'no url' }],
          category: [],
        }),
      ).expect(400),
    );
    expect(issuesOf(res.body as Outcome)).toEqual([
      ['structure', 'Observation.code'],
      ['structure', 'Observation.subject'],
      ['structure', 'Observation.identifier'],
      ['value', 'Observation.valueQuantity.value'],
      ['required', 'Observation.extension[0].url'],
      ['value', 'Observation.category'],
      ['required', 'Observation.status'],
    ]);
  });

  it('keeps the stored version when an update is invalid, and ignores Prefer: handling=lenient', async () => {
    const id = newId();
    await put(`/Patient/${id}`, JSON.stringify(patient({ id }))).expect(201);
    await unchanged(() =>
      put(`/Patient/${id}`, JSON.stringify(patient({ id, birthDate: '1980-13-01' }))).expect(400),
    );
    const read = await http().get(`/Patient/${id}`).expect(200);
    expect((read.body as { meta: { versionId: string } }).meta.versionId).toBe('1');
    await unchanged(() =>
      post('/Patient', JSON.stringify(patient({ birthDate: 'x' })), {
        Prefer: 'handling=lenient',
      }).expect(400),
    );
  });

  it('refuses an invalid conditional create', async () => {
    await unchanged(() =>
      post('/Patient', JSON.stringify(patient({ gender: 7 })), {
        'If-None-Exist': 'identifier=urn:test:mrn|nobody',
      }).expect(400),
    );
  });

  it('refuses a transaction with any invalid entry, naming every problem by entry, and writes nothing', async () => {
    const bundle = transaction([
      postEntry(patient()),
      postEntry(patient()),
      putEntry({ ...patient(), id: newId() }),
      postEntry(patient({ birthDate: 'garbage', colour: 'red' })),
      postEntry(observation('Patient/x', { status: undefined })),
    ]);
    const res = await unchanged(() => post('/', JSON.stringify(bundle)).expect(400));
    expect(issuesOf(res.body as Outcome)).toEqual([
      ['value', 'Bundle.entry[3].resource.birthDate'],
      ['structure', 'Bundle.entry[3].resource.colour'],
      ['required', 'Bundle.entry[4].resource.status'],
    ]);
  });

  it('fails only the invalid entries of a batch, however many problems come before', async () => {
    const noisy = patient(Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`x${i}`, i])));
    const before = await rows();
    const res = await post(
      '/',
      JSON.stringify(
        batch([
          postEntry(patient()),
          postEntry(noisy),
          postEntry(patient({ birthDate: '1980-02-30' })),
          postEntry(patient()),
        ]),
      ),
    ).expect(200);
    const entries = (
      res.body as { entry: Array<{ response: { status: string; outcome?: Outcome } }> }
    ).entry;
    expect(entries.map((e) => e.response.status)).toEqual([
      '201 Created',
      '400 Bad Request',
      '400 Bad Request',
      '201 Created',
    ]);
    expect(entries[1].response.outcome!.issue).toHaveLength(100);
    expect(issuesOf(entries[2].response.outcome!)).toEqual([
      ['value', 'Bundle.entry[2].resource.birthDate'],
    ]);
    expect(await rows()).toBe(before + 2);
  });
});
