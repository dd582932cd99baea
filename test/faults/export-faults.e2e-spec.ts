import request from 'supertest';
import { DataSource } from 'typeorm';
import { ExportJobEntity } from '../../src/bulk-export/job/export-job.entity';
import { KICKOFF_HEADERS, Manifest, parseBody, pathOf } from '../support/export-helpers';
import { waitFor, within } from '../support/export-spies';
import { freePort } from '../support/private-services';
import { spawnApi, WorkerProcess } from '../support/worker-process';
import {
  expectExactExport,
  expectFailedNaming,
  EXPORT_PATH,
  finish,
  outputs,
  row,
  seed,
  seededRandom,
  sleep,
  startExport,
  STORAGE_LATENCY_MS,
  useFaultBench,
  waitForExported,
  watchProgress,
  WORKER_ENV,
} from './export-fault-bench';
import { api, bearerOf } from '../support/test-app';

/**
 * The fault matrix of $export (issue 11, item 5): worker processes killed, stopped and signalled,
 * PostgreSQL, Redis and storage failing under a running export, the API restarted. Each test
 * ends in an export exactly equal to the database, or in a failed job whose OperationOutcome
 * says what failed; never in an export that answers 202 forever. Everything broken is private
 * to this file (its own PostgreSQL, Redis, and Azurite behind a fault proxy).
 */
describe('$export under faults', () => {
  const b = useFaultBench();

  /** Patients (each with an Observation): ~800 resources, ~32 pages, ~9 files. */
  const PATIENTS = 400;

  /** Waits for a fenced-off run (on `worker`) to give up: it logs either outcome. */
  async function fencedRunEnded(worker: WorkerProcess, exportId: string): Promise<void> {
    await waitFor(
      () =>
        Promise.resolve(
          new RegExp(`another run claimed the export|Export ${exportId} failed`).test(
            worker.output(),
          ),
        ),
      'the fenced-off run to stop',
      () => outputs([worker]),
      20_000,
    );
  }

  /** A manifest with its URLs reduced to paths (supertest serves each request on a new port). */
  function withoutOrigins(manifest: Manifest): Manifest {
    return {
      ...manifest,
      request: pathOf(manifest.request),
      output: manifest.output.map((o) => ({ ...o, url: pathOf(o.url) })),
      error: manifest.error.map((o) => ({ ...o, url: pathOf(o.url) })),
    };
  }

  /** The job's outcome columns, to show a stale run changed nothing after the fact. */
  function outcomeOf(job: ExportJobEntity) {
    return {
      status: job.status,
      manifest: job.manifest,
      error: job.error,
      finishedAt: job.finishedAt,
    };
  }

  describe('worker processes', () => {
    // Fixed seed: the same kill points on every run, so a failure can be replayed.
    const SEED = 0x0b11_c0de;
    const KILLS = 5;

    it('exports every resource exactly once after its workers are killed (kill -9) at seeded random points', async () => {
      await seed(b, 600);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      // The shortest lock: a dead worker's job is handed over about a second after the kill.
      const env = { EXPORT_LOCK_MS: '1000' };
      const { statusPath, exportId } = await startExport(b);
      const random = seededRandom(SEED);
      const kills: { afterMs: number; exported: number }[] = [];
      const workers: WorkerProcess[] = [b.worker(env)];
      let previousRun: string | undefined;

      for (let i = 0; i < KILLS; i++) {
        const victim = workers[workers.length - 1];
        // Measured from the moment the victim's run claims the job, so every kill lands in a
        // run: while it waits for writes, counts, reads, stages blocks or records a checkpoint.
        const runId = await waitFor(
          async () => {
            const job = await row(b, exportId);
            if (job.status !== 'queued' && job.status !== 'running') {
              throw new Error(`the export is ${job.status} after ${i} kills\n${outputs(workers)}`);
            }
            const claimed = job.checkpoint.runId;
            return claimed !== undefined && claimed !== previousRun && claimed;
          },
          `run ${i + 1} to claim the export`,
          () => outputs(workers),
        );
        previousRun = runId;
        // The next worker starts while the victim runs (one job: it idles), so it is up by the
        // time BullMQ hands it the dead worker's job.
        workers.push(b.worker(env));
        const afterMs = Math.floor(random() * 800);
        await sleep(afterMs);
        const job = await row(b, exportId);
        if (job.status !== 'running' || job.checkpoint.runId !== runId) {
          throw new Error(
            `kill ${i + 1} (${afterMs} ms into its run) came after the run ended (${job.status}): the data set is too small for the seed's delays`,
          );
        }
        await victim.kill();
        kills.push({ afterMs, exported: job.progress.exported ?? 0 });
      }

      const res = await finish(b, statusPath, workers);
      await expectExactExport(b, res, exportId);
      // The kills landed at different points of the export, not all before its first page.
      expect(new Set(kills.map((k) => k.exported)).size).toBeGreaterThan(1);
    }, 120_000);

    it('a worker sent SIGTERM mid-export checkpoints, releases the export and exits 0, and another worker resumes it without waiting for the lock', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      // A lock far longer than the test may take: a resume that waited for it would time out.
      const env = { EXPORT_LOCK_MS: '120000' };
      const { statusPath, exportId } = await startExport(b);
      const first = b.worker(env);
      const before = await waitForExported(b, exportId, 100, [first]);
      const standby = b.worker(env);
      await standby.ready;

      first.signal('SIGTERM');
      const shutdownBound = Number(WORKER_ENV.SHUTDOWN_TIMEOUT_MS) + 5000;
      const exit = await within(first.exited, shutdownBound, 'the exit').catch(
        () => 'still running' as const,
      );
      const clean = typeof exit === 'object' && exit.code === 0;
      expect({ exit, output: clean ? '' : outputs([first]) }).toEqual({
        exit: { code: 0, signal: null },
        output: '',
      });

      // Released at a checkpoint, not failed nor run to its end by the stopping worker. The
      // standby may have finished it already while the stopping worker closed its connections.
      expect(first.output()).toMatch(/export released at its last checkpoint/);
      const released = await row(b, exportId);
      expect({ status: released.status, error: released.error }).toEqual({
        status: expect.stringMatching(/^(queued|running|completed)$/) as unknown,
        error: null,
      });
      expect(released.progress.exported ?? 0).toBeGreaterThanOrEqual(before.progress.exported ?? 0);

      // Bounded far below EXPORT_LOCK_MS: the standby must take the job at once.
      const res = await finish(b, statusPath, [first, standby], 45_000);
      await expectExactExport(b, res, exportId);
      // The standby's run finished it: the stopping worker did not just run it to the end.
      expect((await row(b, exportId)).checkpoint.runId).not.toBe(before.checkpoint.runId);
    }, 90_000);
  });

  describe('two workers racing for one job', () => {
    it('a worker frozen (SIGSTOP) past its lock and thawed while another runs the export is fenced off: the output stays exact', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const frozen = b.worker();
      const atFreeze = await waitForExported(b, exportId, 100, [frozen]);
      frozen.signal('SIGSTOP');

      // BullMQ hands the job over once the frozen worker's lock expires; the successor's run
      // claims it and makes progress of its own before the frozen worker wakes up.
      const successor = b.worker();
      await waitFor(
        async () => {
          const job = await row(b, exportId);
          return (
            job.checkpoint.runId !== atFreeze.checkpoint.runId &&
            (job.progress.exported ?? 0) > (atFreeze.progress.exported ?? 0)
          );
        },
        'the successor to take the export over',
        () => outputs([frozen, successor]),
      );
      frozen.signal('SIGCONT');

      const res = await finish(b, statusPath, [frozen, successor]);
      await fencedRunEnded(frozen, exportId);
      await expectExactExport(b, res, exportId);
    }, 90_000);

    it('a frozen worker whose block-list commit reaches storage after its successor completed the export changes nothing', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const frozen = b.worker();
      await waitForExported(b, exportId, 100, [frozen]);

      // Past its ownership check, the run commits a file's block list: the proxy holds that
      // request in flight and the worker is frozen there, the worst point to lose the job.
      const commit = b.storage.proxy.holdNext((r) => r.method === 'PUT' && r.comp === 'blocklist');
      await within(commit.reached, 20_000, 'a block-list commit').catch((error: Error) => {
        throw new Error(`${error.message}\n${outputs([frozen])}`);
      });
      frozen.signal('SIGSTOP');
      const atFreeze = await row(b, exportId);

      // The successor writes straight to Azurite, so only the frozen worker's requests pass the proxy.
      const successor = b.worker({
        AZURE_STORAGE_CONNECTION_STRING: b.storage.directConnectionString,
      });
      const res = await finish(b, statusPath, [frozen, successor]);
      await expectExactExport(b, res, exportId);
      const completed = await row(b, exportId);
      expect(completed.checkpoint.runId).not.toBe(atFreeze.checkpoint.runId);

      frozen.signal('SIGCONT');
      const answered = await commit.release();
      await fencedRunEnded(frozen, exportId);

      // Neither the job nor the files moved: the stale run was fenced off, and its stale block
      // list must not replace the finished file (`answered`, its HTTP status, labels a failure).
      expect({ answered, ...outcomeOf(await row(b, exportId)) }).toEqual({
        answered,
        ...outcomeOf(completed),
      });
      const again = await api(b.app).get(statusPath);
      expect(withoutOrigins(again.body as Manifest)).toEqual(withoutOrigins(res.body as Manifest));
      await expectExactExport(b, again, exportId);
    }, 90_000);
  });

  describe('Redis', () => {
    it('completes exactly when Redis restarts empty (no persistence) under a running export', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const running = b.worker();
      await waitForExported(b, exportId, 100, [running]);
      const standby = b.worker();
      await standby.ready;

      // Its queue entry and lock are gone while its run goes on. Slower storage keeps that run
      // busy until the workers are back on Redis, so a sweep typically re-enqueues the export
      // under it and the standby's run takes over, fencing the first off; whichever run ends up
      // finishing it, the output must be exact.
      await b.redis.stop();
      b.storage.proxy.setLatency(100);
      await sleep(1500);
      await b.redis.start();

      const res = await finish(b, statusPath, [running, standby]);
      await expectExactExport(b, res, exportId);
    }, 90_000);

    it("the workers' periodic sweep re-enqueues an export whose worker died while Redis was down and lost the queue", async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const dying = b.worker();
      await waitForExported(b, exportId, 100, [dying]);
      // Started before the outage, so only its periodic sweep (EXPORT_REQUEUE_INTERVAL_MS), not
      // its start-up sweep, can find the export again.
      const standby = b.worker();
      await standby.ready;

      await b.redis.stop();
      await dying.kill();
      const atKill = await row(b, exportId);
      await b.redis.start();

      // No queue entry, no stalled job, no worker on it: only the sweep can bring it back.
      const res = await finish(b, statusPath, [dying, standby]);
      await expectExactExport(b, res, exportId);
      expect((await row(b, exportId)).checkpoint.runId).not.toBe(atKill.checkpoint.runId);
    }, 90_000);
  });

  describe('PostgreSQL', () => {
    it('retries through a 10 s PostgreSQL shutdown mid-export and completes exactly', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const worker = b.worker();
      await waitForExported(b, exportId, 100, [worker]);

      await b.pg.stop('fast');
      await sleep(10_000);
      await b.pg.start();

      const res = await finish(b, statusPath, [worker], 40_000);
      await expectExactExport(b, res, exportId);
    }, 90_000);

    it("retries when the worker's PostgreSQL backends are terminated mid-page, and completes exactly", async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const worker = b.worker();
      const db = b.app.get(DataSource);
      const terminatedQueries: string[] = [];

      for (const exported of [100, 300, 500]) {
        await waitForExported(b, exportId, exported, [worker]);
        // An exclusive lock on `resource` stops the worker's next page read in PostgreSQL, so
        // the backends are terminated while a page is being read, not between pages.
        const lock = db.createQueryRunner();
        await lock.connect();
        try {
          await lock.startTransaction();
          await lock.query('LOCK TABLE resource IN ACCESS EXCLUSIVE MODE');
          const [{ pid }] = (await lock.query('SELECT pg_backend_pid() AS pid')) as {
            pid: number;
          }[];
          const page = await waitFor(
            async () =>
              (
                await db.query<{ query: string }[]>(
                  `SELECT query FROM pg_stat_activity
                    WHERE application_name = 'fhir-server:worker' AND $1 = ANY(pg_blocking_pids(pid))`,
                  [pid],
                )
              )[0],
            'the worker to read a page',
            () => outputs([worker]),
          );
          terminatedQueries.push(page.query);
          const terminated = await db.query<{ ok: boolean }[]>(
            `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
              WHERE application_name = 'fhir-server:worker'`,
          );
          expect(terminated.length).toBeGreaterThan(0);
        } finally {
          if (lock.isTransactionActive) await lock.rollbackTransaction();
          await lock.release();
        }
      }

      const res = await finish(b, statusPath, [worker]);
      await expectExactExport(b, res, exportId);
      // Each termination hit a page read: a COPY or SELECT of resources.
      expect(terminatedQueries).toEqual(
        terminatedQueries.map(() => expect.stringMatching(/resource/) as unknown),
      );
    }, 90_000);
  });

  describe('storage', () => {
    it('retries while storage answers 503 ServerBusy, says "retrying" in X-Progress meanwhile, and completes exactly once storage recovers', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const worker = b.worker();
      await waitForExported(b, exportId, 100, [worker]);
      const progress = watchProgress(b, statusPath);

      await b.storage.proxy.setMode('unavailable');
      await sleep(4000);
      const busy = b.storage.proxy.counts().unavailable;
      await b.storage.proxy.setMode('pass');

      const res = await finish(b, statusPath, [worker]);
      const seen = await progress.stop();
      await expectExactExport(b, res, exportId);
      // The fault landed, and the client was told the export is retrying.
      expect(busy).toBeGreaterThan(0);
      expect(seen.filter((value) => value.startsWith('retrying'))).not.toEqual([]);
    }, 90_000);

    it('retries storage requests that never answer (client timeouts), and completes exactly once storage recovers', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const { statusPath, exportId } = await startExport(b);
      const worker = b.worker();
      await waitForExported(b, exportId, 100, [worker]);

      // The requests that arrive meanwhile are never answered, also after storage recovers:
      // the worker must time them out and try again.
      await b.storage.proxy.setMode('hang');
      await sleep(3000);
      const hung = b.storage.proxy.counts().hung;
      await b.storage.proxy.setMode('pass');

      expect(hung).toBeGreaterThan(0);
      const res = await finish(b, statusPath, [worker], 40_000);
      await expectExactExport(b, res, exportId);
    }, 90_000);

    it('fails the job, naming export storage and not as transient, once storage stays down past EXPORT_RETRY_FOR_MS', async () => {
      await seed(b, PATIENTS);
      b.storage.proxy.setLatency(STORAGE_LATENCY_MS);
      const retryForMs = 3000;
      const { statusPath, exportId } = await startExport(b);
      const worker = b.worker({ EXPORT_RETRY_FOR_MS: String(retryForMs) });
      await waitForExported(b, exportId, 100, [worker]);
      const progress = watchProgress(b, statusPath);

      await b.storage.proxy.setMode('refuse');
      const downAt = Date.now();

      const res = await finish(b, statusPath, [worker], 45_000);
      const seen = await progress.stop();
      expectFailedNaming(res, 'export storage');
      // It retried for the bound before giving up, telling the client so meanwhile.
      const failed = await row(b, exportId);
      expect(failed.status).toBe('failed');
      expect((failed.finishedAt?.getTime() ?? 0) - downAt).toBeGreaterThanOrEqual(retryForMs - 500);
      expect(seen.filter((value) => value.startsWith('retrying'))).not.toEqual([]);
    }, 90_000);
  });

  describe('the API process', () => {
    it('killed (kill -9) between kick-off and poll: the restarted API reports the export and serves its files', async () => {
      await seed(b, 300);
      const port = await freePort();
      const env = { ...b.serviceEnv(), DEPENDENCY_TIMEOUT_MS: '3000' };
      const first = spawnApi(port, env);
      await first.ready;
      const kickoff = await request(first.url)
        .get(EXPORT_PATH)
        .set(KICKOFF_HEADERS)
        .set('Authorization', bearerOf(b.app));
      expect(kickoff.status).toBe(202);
      const statusUrl = kickoff.headers['content-location'];
      await first.kill();

      const worker = b.worker();
      const second = spawnApi(port, env);
      await second.ready;
      const api = request(second.url);
      const bearer = bearerOf(b.app);
      const deadline = Date.now() + 45_000;
      let res = await api.get(pathOf(statusUrl)).set('Authorization', bearer);
      while (res.status === 202 && Date.now() < deadline) {
        await sleep(100);
        res = await api.get(pathOf(statusUrl)).set('Authorization', bearer);
      }
      // Downloads go through the restarted API too, at the URLs its manifest names.
      const read = async (url: string) => {
        const file = await api
          .get(pathOf(url))
          .set('Authorization', bearer)
          .buffer(true)
          .parse((response, done) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => done(null, Buffer.concat(chunks)));
          });
        return { status: file.status, text: (file.body as Buffer).toString('utf8') };
      };
      expect({
        status: res.status,
        output: res.status === 200 ? '' : outputs([second, worker]),
      }).toEqual({
        status: 200,
        output: '',
      });
      const manifest = await expectExactExport(b, res, statusUrl.split('/').pop() as string, read);
      expect(manifest.output.map((o) => new URL(o.url).origin)).toEqual(
        manifest.output.map(() => second.url),
      );
    }, 90_000);

    it('sent SIGTERM with a download in flight: finishes the download, then exits 0', async () => {
      await seed(b, 100);
      const { statusPath } = await startExport(b);
      const done = await finish(b, statusPath, [b.worker()], 45_000);
      const [file] = (parseBody(done) as Manifest).output;
      const filePath = pathOf(file.url);
      const read = async (server: Parameters<typeof request>[0], path: string) => {
        const res = await request(server)
          .get(path)
          .set('Authorization', bearerOf(b.app))
          .buffer(true)
          .parse((response, end) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => end(null, Buffer.concat(chunks)));
          });
        return { status: res.status, text: (res.body as Buffer).toString('utf8') };
      };
      const expected = await read(b.app.getHttpServer(), filePath);
      // The API reads storage through the proxy, which holds the download's read.
      const api = spawnApi(await freePort(), {
        ...b.serviceEnv(),
        AZURE_STORAGE_CONNECTION_STRING: b.storage.proxy.connectionString,
        SHUTDOWN_TIMEOUT_MS: '10000',
      });
      await api.ready;
      const fileName = filePath.split('/').pop() as string;
      const held = b.storage.proxy.holdNext(
        (r) => r.method === 'GET' && r.path.endsWith(`/${fileName}`),
      );
      const download = read(api.url, filePath);
      await held.reached;

      api.signal('SIGTERM');
      await sleep(500);
      const waited = api.isRunning();
      await held.release();

      expect({ waited, file: await download }).toEqual({
        waited: true,
        file: { status: 200, text: expected.text },
      });
      expect(expected).toMatchObject({
        status: 200,
        text: expect.stringContaining('"resourceType"') as unknown,
      });
      expect(await within(api.exited, 15_000, 'the exit')).toEqual({ code: 0, signal: null });
    }, 90_000);
  });
});
