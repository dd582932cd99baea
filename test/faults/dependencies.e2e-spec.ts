import request from 'supertest';
import { DataSource } from 'typeorm';
import type { OperationOutcome } from '../../src/common/operation-outcome';
import {
  expectOperationOutcome,
  kickOff,
  kickOffResponse,
  parseBody,
  pathOf,
  pollUntilDone,
  useExportApp,
} from '../support/export-helpers';
import {
  PrivatePostgres,
  PrivateRedis,
  startPrivatePostgres,
  startPrivateRedis,
} from '../support/private-services';
import { api } from '../support/test-app';

/**
 * Outages of PostgreSQL and Redis while the app runs: requests answer 503 with Retry-After and
 * a transient OperationOutcome instead of 500 or a hang, and the app recovers by itself once
 * the dependency is back. The app runs against private instances the tests stop and start;
 * the machine's shared PostgreSQL and Redis are never touched.
 */
describe('dependency outages', () => {
  let pg: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;
  const postgres = (): PrivatePostgres => {
    if (!pg) throw new Error('the private PostgreSQL starts in beforeAll');
    return pg;
  };
  const queueRedis = (): PrivateRedis => {
    if (!redis) throw new Error('the private Redis starts in beforeAll');
    return redis;
  };

  // Registered before useExportApp: the services must run before the app boots.
  beforeAll(async () => {
    await Promise.all([
      startPrivatePostgres().then((started) => (pg = started)),
      startPrivateRedis().then((started) => (redis = started)),
    ]);
  });

  const t = useExportApp(() => ({
    DATABASE_URL: postgres().url,
    REDIS_URL: queueRedis().url,
    // The bound on a connect or an enqueue; short, so the outage tests stay quick.
    DEPENDENCY_TIMEOUT_MS: '3000',
  }));

  // How many of the app's clients Redis had before the test: the app has recovered when as
  // many are back. BullMQ's Worker.close() never resolves while its blocking client is still
  // reconnecting, so closing the app before then would hang.
  let redisClients = 0;
  beforeEach(async () => {
    redisClients = await queueRedis().connectedClients();
  });

  // Each test leaves both services running, whatever it stopped and however it ended, and the
  // app connected to them again.
  afterEach(async () => {
    await Promise.all([pg?.start(), redis?.start()]);
    await redis?.waitForClients(redisClients);
  });

  // Registered after useExportApp: jest-circus runs afterAll hooks in declaration order, so
  // the app closes while its dependencies still answer.
  afterAll(async () => {
    await Promise.all([pg?.destroy(), redis?.destroy()]);
  });

  const http = () => api(t.app);

  /** A 503 that tells the client to come back, and tells it nothing else. */
  function expectUnavailable(res: request.Response): void {
    expectOperationOutcome(res, 503);
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    const outcome = parseBody(res) as OperationOutcome;
    expect(outcome.issue.length).toBeGreaterThan(0);
    expect(outcome.issue.map((issue) => issue.code)).toEqual(outcome.issue.map(() => 'transient'));
    const leaks = [
      /postgres(ql)?:\/\//i,
      /rediss?:\/\//i,
      /127\.0\.0\.1|localhost/i,
      new RegExp(`\\b(${postgres().port}|${queueRedis().port})\\b`),
      /ECONNREFUSED|ECONNRESET|ETIMEDOUT/,
      /\n\s+at\s/,
      /\.(ts|js):\d+/,
      /\b(QueryFailedError|TypeORMError|ReplyError|MaxRetriesPerRequestError)\b/,
    ];
    for (const leak of leaks) expect(res.text).not.toMatch(leak);
  }

  async function createPatient(family: string): Promise<string> {
    const res = await http()
      .post('/Patient')
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Patient', name: [{ family }] }))
      .expect(201);
    return (res.body as { id: string }).id;
  }

  /** Runs an export to completion; returns its status path. */
  async function completedExport(): Promise<string> {
    const statusPath = await kickOff(t.app, '/Patient/$export');
    const res = await pollUntilDone(t.app, statusPath, 30_000);
    expect(res.status).toBe(200);
    return statusPath;
  }

  async function exportJobStatuses(): Promise<string[]> {
    const rows = await t.app
      .get(DataSource)
      .query<{ status: string }[]>('SELECT status FROM export_job ORDER BY created_at');
    return rows.map((row) => row.status);
  }

  describe('PostgreSQL', () => {
    interface Fixture {
      patientId: string;
      statusPath: string;
    }

    interface Case {
      what: string;
      send: (f: Fixture) => Promise<request.Response>;
      /** What the same request must answer once PostgreSQL is back. */
      recovered: (res: request.Response, f: Fixture) => void | Promise<void>;
    }

    const cases: Case[] = [
      {
        what: 'a read (GET /Patient/:id)',
        send: (f) => http().get(`/Patient/${f.patientId}`),
        recovered: (res, f) => {
          expect(res.status).toBe(200);
          expect(parseBody(res)).toMatchObject({ resourceType: 'Patient', id: f.patientId });
        },
      },
      {
        what: 'a search (GET /Patient?family=)',
        send: () => http().get('/Patient?family=Outage'),
        recovered: (res, f) => {
          expect(res.status).toBe(200);
          const bundle = parseBody(res) as { type: string; entry?: { resource: { id: string } }[] };
          expect(bundle.type).toBe('searchset');
          expect(bundle.entry?.map((e) => e.resource.id)).toEqual([f.patientId]);
        },
      },
      {
        what: 'an $export kick-off',
        send: () => kickOffResponse(t.app, '/Patient/$export'),
        recovered: async (res) => {
          expect(res.status).toBe(202);
          const statusPath = pathOf(res.headers['content-location']);
          // Also the worker recovered: the export runs to its manifest.
          expect((await pollUntilDone(t.app, statusPath, 30_000)).status).toBe(200);
        },
      },
      {
        what: 'an $export status request',
        send: (f) => http().get(f.statusPath),
        recovered: (res) => {
          expect(res.status).toBe(200);
          expect(parseBody(res)).toMatchObject({ output: [{ type: 'Patient', count: 1 }] });
        },
      },
    ];

    async function fixture(): Promise<Fixture> {
      const patientId = await createPatient('Outage');
      return { patientId, statusPath: await completedExport() };
    }

    it.each(cases)(
      'answers $what with 503 while it is shut down, and serves it again once it is back',
      async ({ send, recovered }) => {
        const f = await fixture();

        await postgres().stop('fast');
        expectUnavailable(await send(f));

        await postgres().start();
        await recovered(await send(f), f);
      },
    );

    it('answers 503 while it has crashed (SIGKILL), and serves reads again once it is back', async () => {
      const f = await fixture();

      await postgres().kill();
      expectUnavailable(await http().get(`/Patient/${f.patientId}`));
      expectUnavailable(await http().get('/Patient?family=Outage'));

      await postgres().start();
      await http().get(`/Patient/${f.patientId}`).expect(200);
    });
  });

  describe('Redis', () => {
    it('answers a kick-off with 503 while it is down and marks the job it created failed', async () => {
      await queueRedis().stop();

      const res = await kickOffResponse(t.app, '/Patient/$export');

      expectUnavailable(res);
      expect(res.headers['content-location']).toBeUndefined();
      // No row stays queued with nothing in the queue to run it.
      expect(await exportJobStatuses()).toEqual(['failed']);
    });

    it('accepts a kick-off again once it is back, without restarting the app', async () => {
      await queueRedis().stop();
      expectUnavailable(await kickOffResponse(t.app, '/Patient/$export'));

      await queueRedis().start();

      const statusPath = await kickOff(t.app, '/Patient/$export');
      expect((await pollUntilDone(t.app, statusPath, 30_000)).status).toBe(200);
      expect(await exportJobStatuses()).toEqual(['failed', 'completed']);
    });

    it('does not take FHIR reads and searches down with it', async () => {
      const id = await createPatient('Redisless');
      await queueRedis().stop();

      await http().get(`/Patient/${id}`).expect(200);
      const search = await http().get('/Patient?family=Redisless').expect(200);
      expect((parseBody(search) as { entry?: unknown[] }).entry).toHaveLength(1);
    });
  });
});
