import { INestApplication, Logger } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';
import jose from '../src/auth/jose';
import { AccessTokenIssuer } from '../src/auth/token/access-token.service';
import { ServerKeys } from '../src/auth/token/server-keys.service';
import { StatusPollLimiter } from '../src/bulk-export/status-poll-limiter';
import {
  JWT_BEARER,
  newClient,
  obtainToken,
  OPERATOR,
  operatorAuth,
  signAssertion,
  TestClient,
  tokenRequest,
} from './support/auth-helpers';
import {
  eventually,
  expectOperationOutcome,
  exportIdOf,
  KICKOFF_HEADERS,
  Manifest,
  pathOf,
  store,
  useExportApp,
} from './support/export-helpers';
import { useTestApp } from './support/test-app';

const BASE = 'https://fhir.example.test';
const TOKEN_URL = `${BASE}/auth/token`;

/** supertest requests carrying `token` (or none). */
function as(app: INestApplication, token?: string) {
  const server = request(app.getHttpServer());
  const auth = <T extends request.Test>(test: T): T =>
    token === undefined ? test : test.set('Authorization', `Bearer ${token}`);
  return {
    get: (url: string) => auth(server.get(url)),
    post: (url: string) => auth(server.post(url)),
    put: (url: string) => auth(server.put(url)),
    delete: (url: string) => auth(server.delete(url)),
    kickOff: (url: string) => auth(server.get(url).set(KICKOFF_HEADERS)),
  };
}

async function pollWith(
  app: INestApplication,
  token: string,
  statusPath: string,
): Promise<request.Response> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await as(app, token).get(statusPath);
    if (res.status !== 202) return res;
    if (Date.now() > deadline) throw new Error(`export ${statusPath} still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function expectUnauthorized(res: request.Response, error?: string): void {
  expectOperationOutcome(res, 401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="FHIR"/);
  if (error) expect(res.headers['www-authenticate']).toContain(`error="${error}"`);
}

const PATIENT = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Access' }] };
const OBSERVATION = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { text: 'weight' },
  subject: { reference: 'Patient/p1' },
};
const GROUP = {
  resourceType: 'Group',
  id: 'g1',
  type: 'person',
  actual: true,
  member: [{ entity: { reference: 'Patient/p1' } }],
};

describe('authorization: the bearer-token guard, scopes, per-client jobs and containers', () => {
  const t = useExportApp({ ADMIN_CREDENTIALS: OPERATOR, PUBLIC_BASE_URL: BASE });
  let reader: TestClient;
  let other: TestClient;
  let patientsOnly: TestClient;

  beforeAll(async () => {
    reader = await newClient(t.app, { scope: 'system/*.read', containers: ['reader-exports'] });
    other = await newClient(t.app, { scope: 'system/*.read' });
    patientsOnly = await newClient(t.app, {
      scope: 'system/Patient.read system/Patient.write system/Group.read',
    });
  });

  beforeEach(async () => {
    await store(t.app, [PATIENT, OBSERVATION, GROUP]);
  });

  const token = (client: TestClient, scope = 'system/*.read') =>
    obtainToken(t.app, client, scope, TOKEN_URL);

  describe('without a valid token', () => {
    it.each([
      ['GET', '/Patient/p1'],
      ['GET', '/Patient/p1/_history'],
      ['GET', '/Patient/p1/_history/1'],
      ['GET', '/Patient?name=Access'],
      ['POST', '/Patient/_search'],
      ['POST', '/Patient'],
      ['PUT', '/Patient/p1'],
      ['DELETE', '/Patient/p1'],
      ['POST', '/'],
      ['GET', '/$export'],
      ['GET', '/Patient/$export'],
      ['GET', '/Group/g1/$export'],
      ['POST', '/$export'],
      ['GET', '/_operations/export/00000000-0000-4000-8000-000000000000'],
      ['DELETE', '/_operations/export/00000000-0000-4000-8000-000000000000'],
      ['GET', '/_operations/export/00000000-0000-4000-8000-000000000000/Patient-1.ndjson'],
    ])('%s %s answers 401 with a Bearer challenge and stores nothing', async (method, path) => {
      const server = request(t.app.getHttpServer());
      const req =
        method === 'GET'
          ? server.get(path)
          : method === 'POST'
            ? server.post(path)
            : method === 'PUT'
              ? server.put(path)
              : server.delete(path);
      const res = await req
        .set(KICKOFF_HEADERS)
        .set('Content-Type', 'application/fhir+json')
        .send(method === 'DELETE' || method === 'GET' ? undefined : JSON.stringify(PATIENT));

      expectUnauthorized(res);
      const [{ jobs }] = await t.app
        .get(DataSource)
        .query<{ jobs: number }[]>('SELECT count(*)::int AS jobs FROM export_job');
      expect(jobs).toBe(0);
    });

    it.each([
      ['/metadata', 200],
      ['/.well-known/smart-configuration', 200],
      ['/health/live', 200],
    ])('leaves %s open', async (path, status) => {
      expect((await request(t.app.getHttpServer()).get(path)).status).toBe(status);
    });

    it('leaves the token endpoint open (it answers OAuth errors, not 401)', async () => {
      const res = await request(t.app.getHttpServer())
        .post('/auth/token')
        .type('form')
        .send('grant_type=client_credentials');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'invalid_request' });
    });

    it('answers 401 before reading the body: a malformed body without a token is not a 400', async () => {
      const res = await request(t.app.getHttpServer())
        .post('/Patient')
        .set('Content-Type', 'application/fhir+json')
        .send('{"resourceType": ');
      expectUnauthorized(res);
    });

    it('routes case-sensitively, as FHIR URLs are: /patient/$export is no kick-off', async () => {
      const res = await as(t.app, await token(reader)).kickOff('/patient/$export');
      expect(res.status).toBe(404);
      const [{ jobs }] = await t.app
        .get(DataSource)
        .query<{ jobs: number }[]>('SELECT count(*)::int AS jobs FROM export_job');
      expect(jobs).toBe(0);
    });

    it.each([
      ['a Basic credential', operatorAuth],
      ['a bare "Bearer"', 'Bearer'],
      ['a token that is not a JWT', 'Bearer not-a-jwt'],
      ['two tokens', 'Bearer a b'],
    ])('refuses %s with 401', async (_, header) => {
      const res = await request(t.app.getHttpServer())
        .get('/Patient/p1')
        .set('Authorization', header);
      expectUnauthorized(res);
    });

    it('refuses a token signed by another server key, naming why', async () => {
      const { privateKey } = await jose.generateKeyPair('ES384');
      const forged = await new jose.SignJWT({ client_id: reader.clientId, scope: 'system/*.read' })
        .setProtectedHeader({ alg: 'ES384', kid: 'someone-else', typ: 'at+jwt' })
        .setSubject(reader.clientId)
        .setAudience(BASE)
        .setExpirationTime('5m')
        .sign(privateKey);
      const res = await as(t.app, forged).get('/Patient/p1');
      expectUnauthorized(res, 'invalid_token');
      expectOperationOutcome(res, 401, { mentions: ['not signed by a key of this server'] });
    });

    it("refuses a token for another server's audience", async () => {
      const { access_token } = await t.app.get(AccessTokenIssuer).issue({
        clientId: reader.clientId,
        scope: 'system/*.read',
        baseUrl: 'https://other.example.test',
      });
      expectUnauthorized(await as(t.app, access_token).get('/Patient/p1'), 'invalid_token');
    });

    it('refuses an expired token', async () => {
      const key = t.app.get(ServerKeys).signingKey();
      const now = Math.floor(Date.now() / 1000);
      const expired = await new jose.SignJWT({ client_id: reader.clientId, scope: 'system/*.read' })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
        .setSubject(reader.clientId)
        .setAudience(BASE)
        .setIssuedAt(now - 600)
        .setExpirationTime(now - 300)
        .sign(key.privateKey);
      const res = await as(t.app, expired).get('/Patient/p1');
      expectUnauthorized(res, 'invalid_token');
      expectOperationOutcome(res, 401, { mentions: ['expired'] });
    });

    it('stops honouring the tokens of a client the operator revokes, at once', async () => {
      const revoked = await newClient(t.app, { scope: 'system/*.read' });
      const bearer = await token(revoked);
      expect((await as(t.app, bearer).get('/Patient/p1')).status).toBe(200);

      await request(t.app.getHttpServer())
        .delete(`/admin/clients/${revoked.clientId}`)
        .set('Authorization', operatorAuth)
        .expect(204);

      const res = await as(t.app, bearer).get('/Patient/p1');
      expectUnauthorized(res, 'invalid_token');
      expectOperationOutcome(res, 401, { mentions: ['revoked'] });
    });
  });

  describe('audit of the token endpoint', () => {
    it('records each token issued and each refused, naming the client and why', async () => {
      const client = await newClient(t.app, { scope: 'system/Patient.read' });
      await token(client, 'system/Patient.read');
      const refused = await tokenRequest(t.app, {
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER,
        client_assertion: await signAssertion({
          clientId: client.clientId,
          key: client.key,
          aud: 'https://elsewhere.example.test/auth/token',
        }),
        scope: 'system/Patient.read',
      });
      expect(refused.status).toBe(400);

      const rows = () =>
        t.app
          .get(DataSource)
          .query<{ action: string; outcome: number; types: string[] | null; detail: string }[]>(
            `SELECT action, outcome, types, detail FROM audit_event WHERE client_id = $1 ORDER BY id`,
            [client.clientId],
          );
      await eventually(async () => (await rows()).length === 2, 'both token requests audited');
      expect(await rows()).toEqual([
        {
          action: 'token.issued',
          outcome: 200,
          types: ['Patient'],
          detail: 'scope system/Patient.read',
        },
        {
          action: 'token.refused',
          outcome: 400,
          types: null,
          detail: expect.stringMatching(/^invalid_client: .*aud/) as unknown,
        },
      ]);
    });
  });

  describe('scopes on the FHIR REST API', () => {
    it('lets a Patient-only token read and write Patients and nothing else (403 naming the scopes)', async () => {
      const bearer = await token(patientsOnly, 'system/Patient.read system/Patient.write');
      const client = as(t.app, bearer);
      expect((await client.get('/Patient/p1')).status).toBe(200);
      expect((await client.get('/Patient?name=Access')).status).toBe(200);

      const read = await client.get('/Observation/o1');
      expectOperationOutcome(read, 403, { mentions: ['read on Observation'] });
      expect(read.headers['www-authenticate']).toContain('error="insufficient_scope"');
      expectOperationOutcome(await client.get('/Observation?status=final'), 403);
      const create = await client
        .post('/Observation')
        .set('Content-Type', 'application/fhir+json')
        .send(JSON.stringify({ ...OBSERVATION, id: undefined }));
      expectOperationOutcome(create, 403, { mentions: ['create on Observation'] });
    });

    it('lets a read-only token read but not create, update or delete', async () => {
      const client = as(t.app, await token(reader));
      expect((await client.get('/Observation/o1')).status).toBe(200);
      const put = await client
        .put('/Patient/p1')
        .set('Content-Type', 'application/fhir+json')
        .send(JSON.stringify(PATIENT));
      expectOperationOutcome(put, 403, { mentions: ['update on Patient'] });
      expectOperationOutcome(await client.delete('/Patient/p1'), 403, {
        mentions: ['delete on Patient'],
      });
      expect((await as(t.app, await token(reader)).get('/Patient/p1')).status).toBe(200);
    });

    it('refuses a conditional create, which answers with its match, without search (403)', async () => {
      const client = as(t.app, await token(patientsOnly, 'system/Patient.write'));
      const res = await client
        .post('/Patient')
        .set('Content-Type', 'application/fhir+json')
        .set('If-None-Exist', 'identifier=http://hospital.example/mrn|123')
        .send(JSON.stringify({ resourceType: 'Patient' }));
      expectOperationOutcome(res, 403, { expression: 'If-None-Exist', mentions: ['search'] });
    });

    it('refuses a chained search into a type the token may not search (403)', async () => {
      const observations = await newClient(t.app, { scope: 'system/Observation.read' });
      const client = as(t.app, await token(observations, 'system/Observation.read'));
      expect((await client.get('/Observation?status=final')).status).toBe(200);
      expectOperationOutcome(await client.get('/Observation?subject:Patient.name=Access'), 403, {
        mentions: ['search on Patient'],
      });
      expectOperationOutcome(
        await client.kickOff('/$export?_typeFilter=Observation%3Fsubject%3APatient.name%3DAccess'),
        403,
        { expression: '_typeFilter', mentions: ['Patient'] },
      );
      // A Group's members are its data: a Group export needs reading the Group.
      expectOperationOutcome(await client.kickOff('/Group/g1/$export'), 403, {
        mentions: ['read on Group'],
      });
    });

    it('answers an unknown type 404, not 403', async () => {
      const client = as(t.app, await token(patientsOnly, 'system/Patient.read'));
      expectOperationOutcome(await client.get('/NotAType/x'), 404);
    });

    it('refuses a whole transaction with an entry outside the scopes, and only that entry of a batch', async () => {
      const client = as(
        t.app,
        await token(patientsOnly, 'system/Patient.read system/Patient.write'),
      );
      const entries = [
        {
          resource: { resourceType: 'Patient', name: [{ family: 'Batch' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: { ...OBSERVATION, id: undefined },
          request: { method: 'POST', url: 'Observation' },
        },
      ];
      const send = (type: string) =>
        client
          .post('/')
          .set('Content-Type', 'application/fhir+json')
          .send(JSON.stringify({ resourceType: 'Bundle', type, entry: entries }));

      const transaction = await send('transaction');
      expectOperationOutcome(transaction, 403, { mentions: ['create on Observation'] });
      const batch = await send('batch');
      expect(batch.status).toBe(200);
      const statuses = (
        JSON.parse(batch.text) as { entry: { response: { status: string } }[] }
      ).entry.map((e) => e.response.status);
      expect(statuses).toEqual([expect.stringMatching(/^201/), expect.stringMatching(/^403/)]);
      const [{ n }] = await t.app
        .get(DataSource)
        .query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM resource WHERE type = 'Observation'`,
        );
      expect(n).toBe(1);
    });
  });

  describe('exports', () => {
    it("keeps one client's export from another: status, cancel and files answer 404", async () => {
      const mine = await token(reader);
      const theirs = await token(other);
      const kickoff = await as(t.app, mine).kickOff('/$export');
      expect(kickoff.status).toBe(202);
      const statusPath = pathOf(kickoff.headers['content-location']);
      const done = await pollWith(t.app, mine, statusPath);
      expect(done.status).toBe(200);
      const manifest = done.body as Manifest;
      expect(manifest.requiresAccessToken).toBe(true);
      const file = pathOf(manifest.output.find((f) => f.type === 'Patient')!.url);

      expectOperationOutcome(await as(t.app, theirs).get(statusPath), 404);
      expectOperationOutcome(await as(t.app, theirs).get(file), 404);
      expectOperationOutcome(await as(t.app, theirs).delete(statusPath), 404);

      expect((await as(t.app, mine).get(file)).status).toBe(200);
      expect((await as(t.app, mine).get(statusPath)).status).toBe(200);
    });

    it('refuses a file download whose type the token does not cover (403), allows the rest', async () => {
      const full = await token(reader);
      const res = await as(t.app, full).kickOff('/$export?_type=Observation,Patient');
      const done = await pollWith(t.app, full, pathOf(res.headers['content-location']));
      const manifest = done.body as Manifest;
      const narrow = await token(reader, 'system/Patient.read');

      const observation = manifest.output.find((f) => f.type === 'Observation')!;
      const patient = manifest.output.find((f) => f.type === 'Patient')!;
      expectOperationOutcome(await as(t.app, narrow).get(pathOf(observation.url)), 403, {
        mentions: ['Observation'],
      });
      expect((await as(t.app, narrow).get(pathOf(patient.url))).status).toBe(200);
    });

    it('refuses a _type, _typeFilter or includeAssociatedData outside the scopes with 403', async () => {
      const client = as(t.app, await token(patientsOnly, 'system/Patient.read'));
      expectOperationOutcome(await client.kickOff('/$export?_type=Patient,Observation'), 403, {
        expression: '_type',
        mentions: ['Observation'],
      });
      expectOperationOutcome(
        await client.kickOff('/$export?_typeFilter=Observation%3Fstatus%3Dfinal'),
        403,
        { expression: '_typeFilter' },
      );
      expectOperationOutcome(
        await client.kickOff(
          '/$export?_type=Patient&includeAssociatedData=LatestProvenanceResources',
        ),
        403,
        { expression: 'includeAssociatedData' },
      );
    });

    it('narrows an export without _type to the permitted types and says so in the error file', async () => {
      const bearer = await token(patientsOnly, 'system/Patient.read system/Group.read');
      for (const path of ['/$export', '/Patient/$export', '/Group/g1/$export']) {
        const res = await as(t.app, bearer).kickOff(path);
        expect(res.status).toBe(202);
        const done = await pollWith(t.app, bearer, pathOf(res.headers['content-location']));
        const manifest = done.body as Manifest;
        const types = manifest.output.map((f) => f.type);
        expect(types).toContain('Patient');
        expect(types.filter((type) => type !== 'Patient' && type !== 'Group')).toEqual([]);
        expect(manifest.error).toHaveLength(1);
        const errors = await as(t.app, bearer).get(pathOf(manifest.error[0].url));
        expect(errors.status).toBe(200);
        expect(errors.text).toContain('only those were exported');
      }
    });

    it('refuses a _container the client is not registered for (403) and takes its own', async () => {
      const bearer = await token(reader);
      expectOperationOutcome(
        await as(t.app, bearer).kickOff('/$export?_container=elsewhere'),
        403,
        {
          expression: '_container',
          mentions: ['reader-exports'],
        },
      );
      expectOperationOutcome(
        await as(t.app, await token(other)).kickOff('/$export?_container=reader-exports'),
        403,
        { expression: '_container' },
      );
      const own = await as(t.app, bearer).kickOff(
        '/$export?_type=Patient&_container=reader-exports',
      );
      expect(own.status).toBe(202);
    });

    it('records kick-off, status, download, cancel and refusals in the audit log, without PHI', async () => {
      const bearer = await token(reader);
      const res = await as(t.app, bearer).kickOff(
        '/$export?_type=Patient&_typeFilter=Patient%3Fname%3DAccess',
      );
      const statusPath = pathOf(res.headers['content-location']);
      const id = exportIdOf(statusPath);
      const done = await pollWith(t.app, bearer, statusPath);
      const file = pathOf((done.body as Manifest).output[0].url);
      await as(t.app, bearer).get(file).expect(200);
      await as(t.app).get(statusPath).expect(401);
      await as(t.app, bearer).delete(statusPath).expect(202);

      type Row = {
        action: string;
        client_id: string | null;
        types: string[] | null;
        outcome: number;
      };
      const audited = () =>
        t.app.get(DataSource).query<Row[]>(
          `SELECT action, client_id, types, outcome, detail FROM audit_event
             WHERE export_id = $1 ORDER BY id`,
          [id],
        );
      // Each event is written once its response has gone out.
      await eventually(
        async () => (await audited()).some((r) => r.action === 'export.cancel'),
        'the cancel to be audited',
      );
      const rows = await audited();
      expect(rows.map((r) => [r.action, r.client_id, r.outcome])).toEqual(
        expect.arrayContaining([
          ['export.kickoff', reader.clientId, 202],
          ['export.status', reader.clientId, 200],
          ['export.download', reader.clientId, 200],
          ['export.status', null, 401],
          ['export.cancel', reader.clientId, 202],
        ]),
      );
      expect(rows.find((r) => r.action === 'export.kickoff')?.types).toEqual(['Patient']);
      expect(JSON.stringify(rows)).not.toContain('Access');
    });
  });
});

describe('authorization limits (API role only: exports stay queued)', () => {
  const t = useExportApp({
    ROLE: 'api',
    ADMIN_CREDENTIALS: OPERATOR,
    PUBLIC_BASE_URL: BASE,
    EXPORT_STATUS_POLLS_PER_SECOND: '1',
    EXPORT_MAX_CONCURRENT_PER_CLIENT: '2',
  });
  let client: TestClient;
  let other: TestClient;

  beforeAll(async () => {
    client = await newClient(t.app, { scope: 'system/*.read', max_concurrent_exports: 1 });
    other = await newClient(t.app, { scope: 'system/*.read' });
  });

  const token = (c: TestClient) => obtainToken(t.app, c, 'system/*.read', TOKEN_URL);

  it('answers the kick-off beyond max_concurrent_exports with 429 and Retry-After; joining is not a new export', async () => {
    const bearer = await token(client);
    const first = await as(t.app, bearer).kickOff('/$export?_type=Patient');
    expect(first.status).toBe(202);

    const joined = await as(t.app, bearer).kickOff('/$export?_type=Patient');
    expect(joined.status).toBe(202);
    expect(joined.headers['content-location']).toBe(first.headers['content-location']);
    const second = await as(t.app, bearer).kickOff('/$export?_type=Observation');
    expectOperationOutcome(second, 429, { mentions: ['limit'] });
    expect(second.headers['retry-after']).toMatch(/^\d+$/);
    // Another client is not held back by this one's limit, and is not joined to its export.
    const theirs = await as(t.app, await token(other)).kickOff('/$export?_type=Patient');
    expect(theirs.status).toBe(202);
    expect(theirs.headers['content-location']).not.toBe(first.headers['content-location']);

    // Once the first is cancelled the slot is free again.
    await as(t.app, bearer).delete(pathOf(first.headers['content-location'])).expect(202);
    expect((await as(t.app, bearer).kickOff('/$export?_type=Observation')).status).toBe(202);
  });

  it('holds a client registered without a limit to EXPORT_MAX_CONCURRENT_PER_CLIENT', async () => {
    const unlimited = await newClient(t.app, { scope: 'system/*.read' });
    const bearer = await token(unlimited);
    const statuses = [];
    for (const type of ['Patient', 'Observation', 'Encounter']) {
      statuses.push((await as(t.app, bearer).kickOff(`/$export?_type=${type}`)).status);
    }
    expect(statuses).toEqual([202, 202, 429]);
  });

  it('answers 429 with Retry-After to a client polling faster than the limit, never to one honouring it', async () => {
    const bearer = await token(other);
    const res = await as(t.app, bearer).kickOff('/$export?_type=Encounter');
    const statusPath = pathOf(res.headers['content-location']);
    const polls = [];
    for (let i = 0; i < 3; i++) polls.push(await as(t.app, bearer).get(statusPath));
    expect(polls.map((p) => p.status)).toEqual([202, 202, 429]);
    expectOperationOutcome(polls[2], 429, { mentions: ['Retry-After'] });
    expect(polls[2].headers['retry-after']).toBe('1');
    // Another client polling the same URL has its own allowance (and is told nothing exists).
    expectOperationOutcome(await as(t.app, await token(client)).get(statusPath), 404);

    const limiter = t.app.get(StatusPollLimiter);
    const start = 1_000_000;
    limiter.take('c', 'job', start);
    limiter.take('c', 'job', start);
    // One poll a second, as Retry-After asks, is always answered.
    for (let s = 1; s <= 10; s++) {
      expect(() => limiter.take('c', 'job', start + s * 1000)).not.toThrow();
    }
  });
});

describe('AUTH_REQUIRED=false', () => {
  let warn: jest.SpyInstance;
  beforeAll(() => {
    warn = jest.spyOn(Logger.prototype, 'warn');
  });
  const t = useTestApp({ AUTH_REQUIRED: 'false' });

  it('serves every call without a token, warns at start and says so in the CapabilityStatement', async () => {
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual(
      expect.arrayContaining([expect.stringContaining('AUTH_REQUIRED=false')]),
    );
    const server = request(t.app.getHttpServer());
    expect((await server.get('/Patient?name=x')).status).toBe(200);
    const metadata = await server.get('/metadata').expect(200);
    const statement = JSON.parse(metadata.text) as {
      rest: { security: { description: string } }[];
    };
    expect(statement.rest[0].security.description).toContain('AUTHORIZATION IS OFF');
  });
});

describe('authorization with SAS file URLs (EXPORT_FILE_URLS=sas)', () => {
  const t = useExportApp({
    EXPORT_FILE_URLS: 'sas',
    ADMIN_CREDENTIALS: OPERATOR,
    PUBLIC_BASE_URL: BASE,
  });

  it('hands out SAS links only to a token that covers every file of the export', async () => {
    const client = await newClient(t.app, { scope: 'system/*.read' });
    await store(t.app, [PATIENT, OBSERVATION]);
    const full = await obtainToken(t.app, client, 'system/*.read', TOKEN_URL);
    const res = await as(t.app, full).kickOff('/$export?_type=Observation,Patient');
    const statusPath = pathOf(res.headers['content-location']);
    const done = await pollWith(t.app, full, statusPath);
    expect(done.status).toBe(200);
    expect((done.body as Manifest).requiresAccessToken).toBe(false);

    const narrow = await obtainToken(t.app, client, 'system/Patient.read', TOKEN_URL);
    expectOperationOutcome(await as(t.app, narrow).get(statusPath), 403, {
      mentions: ['Observation'],
    });
  });
});
