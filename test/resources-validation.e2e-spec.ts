import { DataSource } from 'typeorm';
import { newId, patient } from './support/factories';
import { api, useTestApp } from './support/test-app';

const FHIR_JSON = 'application/fhir+json';

interface Outcome {
  resourceType: string;
  issue: Array<{ severity: string; code: string; diagnostics: string; expression?: string[] }>;
}

function expectOutcome(body: Outcome, diagnostics: string | RegExp): void {
  expect(body.resourceType).toBe('OperationOutcome');
  expect(body.issue[0].severity).toBe('error');
  if (typeof diagnostics === 'string') expect(body.issue[0].diagnostics).toContain(diagnostics);
  else expect(body.issue[0].diagnostics).toMatch(diagnostics);
}

describe('FHIR REST: refusing bad input with an OperationOutcome and writing nothing', () => {
  const t = useTestApp({ MAX_BODY_SIZE: '4kb' });

  const http = () => api(t.app);
  const rows = async (): Promise<number> => {
    const [row] = await t.app.get(DataSource).query('SELECT count(*)::int AS n FROM resource');
    return (row as { n: number }).n;
  };
  let before: number;
  beforeEach(async () => {
    before = await rows();
  });
  afterEach(async () => {
    expect(await rows()).toBe(before);
  });

  it('answers 400 to a body that is not valid JSON', async () => {
    const res = await http()
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send('{"resourceType": "Patient",')
      .expect(400);
    expectOutcome(res.body, /^Request body is not valid JSON: /);
  });

  it.each([
    ['an array', '[{"resourceType":"Patient"}]'],
    ['a string', '"Patient"'],
  ])('answers 400 to a body that is %s rather than an object', async (_what, body) => {
    // strict JSON parsing refuses non-object top-level values before the controller runs
    const res = await http().post('/Patient').set('Content-Type', FHIR_JSON).send(body).expect(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('answers 400 to a body without resourceType', async () => {
    const body: Record<string, unknown> = patient();
    delete body.resourceType;
    const res = await http()
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(body))
      .expect(400);
    expectOutcome(res.body, 'no resourceType');
  });

  it('answers 400 when resourceType does not match the type in the URL', async () => {
    const res = await http()
      .post('/Observation')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient()))
      .expect(400);
    expectOutcome(res.body, 'resourceType "Patient" does not match Observation in the URL');
    const id = newId();
    await http()
      .put(`/Observation/${id}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient({ id })))
      .expect(400);
  });

  it.each([
    ['GET', '/Patiant/123'],
    ['POST', '/Patiant'],
    ['PUT', '/Patiant/123'],
    ['DELETE', '/Patiant/123'],
    ['GET', '/Patiant/123/_history'],
    ['GET', '/Patiant/123/_history/1'],
  ])('answers 404 "Unknown resource type" to %s %s', async (method, url) => {
    const res = await http()
      [method.toLowerCase() as 'get'](url)
      .set('Content-Type', FHIR_JSON)
      .send(
        method === 'POST' || method === 'PUT'
          ? JSON.stringify({ resourceType: 'Patiant', id: '123' })
          : undefined,
      )
      .expect(404);
    expectOutcome(res.body, 'Unknown resource type Patiant');
  });

  it.each([
    ['a space', 'a%20b'],
    ['an underscore', 'a_b'],
    ['65 characters', 'a'.repeat(65)],
  ])('answers 400 to an id with %s', async (_what, id) => {
    const read = await http().get(`/Patient/${id}`).expect(400);
    expectOutcome(read.body, 'Invalid resource id');
    const update = await http()
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient({ id: decodeURIComponent(id) })))
      .expect(400);
    expectOutcome(update.body, 'Invalid resource id');
    await http().delete(`/Patient/${id}`).expect(400);
  });

  it('answers 400 to an update whose body has no id, or another id than the URL', async () => {
    const id = newId();
    const missing = await http()
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient()))
      .expect(400);
    expectOutcome(missing.body, 'no id');
    const other = await http()
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient({ id: 'other' })))
      .expect(400);
    expectOutcome(other.body, `Resource id "other" does not match id "${id}"`);
  });

  it('answers 413 to a body over MAX_BODY_SIZE', async () => {
    const res = await http()
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient({ text: { status: 'generated', div: 'x'.repeat(5000) } })))
      .expect(413);
    expectOutcome(res.body, 'exceeds the limit');
  });

  it.each([
    ['text/plain', 'POST', '/Patient'],
    ['application/xml', 'POST', '/Patient'],
    ['application/fhir+xml', 'PUT', '/Patient/x1'],
    ['text/plain', 'POST', '/'],
  ])('answers 415 to Content-Type %s on %s %s', async (type, method, url) => {
    const res = await http()
      [method.toLowerCase() as 'post'](url)
      .set('Content-Type', type)
      .send('<Patient xmlns="http://hl7.org/fhir"/>')
      .expect(415);
    expectOutcome(res.body, `Unsupported Content-Type ${type}`);
  });

  it('answers 415 to a POST without Content-Type', async () => {
    const res = await http().post('/Patient').expect(415);
    expectOutcome(res.body, 'Missing Content-Type');
  });

  it('answers 400 to an If-Match that is not a version ETag', async () => {
    const id = newId();
    const res = await http()
      .put(`/Patient/${id}`)
      .set('Content-Type', FHIR_JSON)
      .set('If-Match', 'abc')
      .send(JSON.stringify(patient({ id })))
      .expect(400);
    expectOutcome(res.body, 'If-Match must be a version ETag');
  });

  it('answers 400 to a version id that is not a positive integer, and to a bad _count', async () => {
    const vread = await http().get(`/Patient/${newId()}/_history/abc`).expect(400);
    expectOutcome(vread.body, 'Invalid version id "abc"');
    const count = await http().get(`/Patient/${newId()}/_history?_count=-1`).expect(400);
    expectOutcome(count.body, '_count must be a positive integer');
    const exponent = await http().get(`/Patient/${newId()}/_history?_count=1e9`).expect(400);
    expectOutcome(exponent.body, 'a larger _count gets 1000');
    // A count of any size is capped, not refused: this one reaches the (missing) resource.
    await http().get(`/Patient/${newId()}/_history?_count=99999999999`).expect(404);
    const since = await http().get(`/Patient/${newId()}/_history?_since=2020-01-01`).expect(400);
    expectOutcome(since.body, '_since is not supported yet');
  });

  it('answers 404 OperationOutcome to a route that does not exist', async () => {
    const res = await http().get('/no/such/route').expect(404);
    expectOutcome(res.body, 'Cannot GET /no/such/route');
    const lower = await http().get('/patient/123').expect(404);
    expect(lower.body.resourceType).toBe('OperationOutcome');
  });
});

describe('FHIR REST routes leave operation and infrastructure paths alone', () => {
  const t = useTestApp();

  const http = () => api(t.app);
  const notFromResourceRoutes = (body: Outcome | undefined) => {
    const diagnostics = body?.issue?.[0]?.diagnostics ?? '';
    expect(diagnostics).not.toMatch(/Unknown resource type|Invalid resource id|Content-Type/);
  };

  it('serves /metadata and /health/live from their own controllers', async () => {
    const metadata = await http().get('/metadata').expect(200);
    expect(metadata.body.resourceType).toBe('CapabilityStatement');
    await http().get('/health/live').expect(200);
  });

  it.each([
    ['GET', '/$export'],
    ['POST', '/$export'],
    ['GET', '/Patient/$export'],
    ['POST', '/Patient/$export'],
    ['GET', '/Group/g1/$export'],
    ['GET', '/_operations/export/00000000-0000-0000-0000-000000000000'],
    ['DELETE', '/_operations/export/00000000-0000-0000-0000-000000000000'],
    ['GET', '/Patient/_history'],
    ['GET', '/admin/queues'],
  ])('does not answer %s %s as a resource interaction', async (method, url) => {
    const res = await http()[method.toLowerCase() as 'get'](url);
    notFromResourceRoutes(res.body as Outcome);
  });
});
