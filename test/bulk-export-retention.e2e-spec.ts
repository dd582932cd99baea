import { getQueueToken } from '@nestjs/bullmq';
import { INestApplication, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker } from 'bullmq';
import { DataSource } from 'typeorm';
import { ExportJobService } from '../src/bulk-export/job/export-job.service';
import { EXPORT_MAINTENANCE_QUEUE } from '../src/bulk-export/retention/export-maintenance.queue';
import { ExportRetentionProcessor } from '../src/bulk-export/retention/export-retention.processor';
import {
  ExportRetentionService,
  RETENTION_BATCH_SIZE,
  RETENTION_MAX_FAILURES_IN_A_ROW,
  RetentionRun,
} from '../src/bulk-export/retention/export-retention.service';
import { ExportLocation, ExportSink } from '../src/bulk-export/storage/export-sink';
import { redisConnection } from '../src/common/redis-connection';
import { operationOutcome } from '../src/common/operation-outcome';
import { loadConfig } from '../src/config/app-config';
import { WorkerModule } from '../src/worker.module';
import { listBlobNames } from './support/azurite';
import {
  downloadRaw,
  eventually,
  expectOperationOutcome,
  exportIdOf,
  exportManifest,
  jobRow,
  kickOff,
  Manifest,
  store,
  useExportApp,
} from './support/export-helpers';
import { paddedPatients } from './support/export-factories';
import { unqueuedJob } from './support/export-jobs';
import { holdPageRead, recordRuns } from './support/export-spies';
import { api } from './support/test-app';

/** The manifest as the status endpoint serves it, with the expiry in `extension`. */
type ServedManifest = Manifest & { extension?: { expires?: string } };

const HOUR_MS = 3600_000;

function maintenanceQueue(app: INestApplicationContext): Queue {
  return app.get<Queue>(getQueueToken(EXPORT_MAINTENANCE_QUEUE));
}

/** The app's BullMQ worker of the maintenance queue, which runs the scheduled purge. */
function retentionWorker(app: INestApplicationContext): Worker {
  return app.get(ExportRetentionProcessor).worker;
}

function purge(app: INestApplication): Promise<RetentionRun> {
  return app.get(ExportRetentionService).purgeExpired();
}

async function rowExists(app: INestApplication, id: string): Promise<boolean> {
  const rows = await app
    .get(DataSource)
    .query<unknown[]>('SELECT 1 FROM export_job WHERE id = $1', [id]);
  return rows.length > 0;
}

/** Moves a finished job's finished_at `hours` into the past. */
async function finishedHoursAgo(app: INestApplication, id: string, hours: number): Promise<void> {
  await app
    .get(DataSource)
    .query(
      `UPDATE export_job SET finished_at = now() - $2::float8 * interval '1 hour' WHERE id = $1`,
      [id, hours],
    );
}

function filesIn(location: ExportLocation): Promise<string[]> {
  return listBlobNames(location.container, location.prefix || undefined);
}

/** Writes a file into a job's location through the app's sink, as a failed run leaves output. */
async function leaveFile(app: INestApplication, location: ExportLocation): Promise<void> {
  const sink = app.get(ExportSink);
  await sink.prepare(location);
  const writer = await sink.openFile(location, 'Patient-1.ndjson');
  await writer.append(Buffer.from('{"resourceType":"Patient","id":"left"}\n'));
  await writer.close();
}

/** A failed export (no queue entry, so no worker touches it) with a file left in storage. */
async function failedExport(
  app: INestApplication,
): Promise<{ id: string; location: ExportLocation }> {
  const id = await unqueuedJob(app, { types: ['Patient'] });
  await app.get(ExportJobService).fail(id, operationOutcome('error', 'exception', 'it failed'));
  const { location, status } = await jobRow(app, id);
  expect(status).toBe('failed');
  await leaveFile(app, location);
  expect(await filesIn(location)).toEqual([`${location.prefix}Patient-1.ndjson`]);
  return { id, location };
}

/** Fails `deleteAll` of the app's sink for the locations `refuse` picks; the rest go through. */
function refuseDeletion(
  app: INestApplication,
  refuse: (location: ExportLocation) => boolean,
): jest.SpyInstance {
  const sink = app.get(ExportSink);
  const deleteAll = sink.deleteAll.bind(sink);
  return jest
    .spyOn(sink, 'deleteAll')
    .mockImplementation((location) =>
      refuse(location)
        ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
        : deleteAll(location),
    );
}

/** Asserts that an export is gone for clients: status, file and DELETE answer 404. */
async function expectPurged(app: INestApplication, statusPath: string, fileUrl: string) {
  const status = await api(app).get(statusPath);
  expectOperationOutcome(status, 404, { mentions: [exportIdOf(statusPath), 'expired'] });
  expect((await downloadRaw(app, fileUrl)).status).toBe(404);
  expectOperationOutcome(await api(app).delete(statusPath), 404);
}

describe('export retention: expiry and the purge rules (EXPORT_RETENTION_HOURS=1.5)', () => {
  const t = useExportApp({ EXPORT_RETENTION_HOURS: '1.5' });

  // These tests run the purge themselves: the scheduled one (due at start) is held off.
  beforeAll(async () => {
    await retentionWorker(t.app).pause();
  });

  it("gives a completed export's manifest an Expires header and extension.expires of finished_at + 1.5 h", async () => {
    await store(t.app, paddedPatients(2));
    const { statusPath } = await exportManifest(t.app, '/$export', { query: { _type: 'Patient' } });
    const { finishedAt } = await jobRow(t.app, exportIdOf(statusPath));
    const expires = new Date(finishedAt!.getTime() + 1.5 * HOUR_MS);

    const res = await api(t.app).get(statusPath);

    expect(res.status).toBe(200);
    expect(res.headers.expires).toBe(expires.toUTCString());
    expect(res.headers['cache-control']).toBe('no-store');
    const manifest = res.body as ServedManifest;
    expect(manifest.extension).toEqual({ expires: expires.toISOString() });
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Patient', 2]]);
  });

  it('purges a completed export finished 1.75 h ago and keeps one finished 1.25 h ago and a queued one', async () => {
    await store(t.app, paddedPatients(2));
    const old = await exportManifest(t.app, '/$export', { query: { _type: 'Patient' } });
    const young = await exportManifest(t.app, '/$export', {
      query: { _type: 'Patient', _container: 'retention-young' },
    });
    const oldId = exportIdOf(old.statusPath);
    const youngId = exportIdOf(young.statusPath);
    await finishedHoursAgo(t.app, oldId, 1.75);
    await finishedHoursAgo(t.app, youngId, 1.25);
    // Not finished, however old: never expires.
    const queuedId = await unqueuedJob(t.app, { types: ['Observation'] });
    await t.app
      .get(DataSource)
      .query(
        `UPDATE export_job SET created_at = now() - interval '1 day', updated_at = now() - interval '1 day' WHERE id = $1`,
        [queuedId],
      );
    const oldLocation = (await jobRow(t.app, oldId)).location;
    const youngLocation = (await jobRow(t.app, youngId)).location;
    expect(await filesIn(oldLocation)).toEqual(['Patient-1.ndjson']);

    expect(await purge(t.app)).toEqual({ purged: 1, failed: 0, stoppedEarly: false });

    expect(await rowExists(t.app, oldId)).toBe(false);
    expect(await filesIn(oldLocation)).toEqual([]);
    await expectPurged(t.app, old.statusPath, old.manifest.output[0].url);

    expect((await jobRow(t.app, queuedId)).status).toBe('queued');
    expect(await filesIn(youngLocation)).toEqual([`${youngLocation.prefix}Patient-1.ndjson`]);
    expect((await api(t.app).get(young.statusPath)).status).toBe(200);
    expect((await downloadRaw(t.app, young.manifest.output[0].url)).status).toBe(200);
  });

  it('keeps the row and files of an export whose files could not be deleted, and purges it on the next run', async () => {
    const refused = await failedExport(t.app);
    const other = await failedExport(t.app);
    await finishedHoursAgo(t.app, refused.id, 3);
    await finishedHoursAgo(t.app, other.id, 2);
    const deletion = refuseDeletion(t.app, (l) => l.container === refused.location.container);

    expect(await purge(t.app)).toEqual({ purged: 1, failed: 1, stoppedEarly: false });

    expect(await rowExists(t.app, refused.id)).toBe(true);
    expect(await filesIn(refused.location)).toEqual(['Patient-1.ndjson']);
    expect(await rowExists(t.app, other.id)).toBe(false);
    expect(await filesIn(other.location)).toEqual([]);

    deletion.mockRestore();
    expect(await purge(t.app)).toEqual({ purged: 1, failed: 0, stoppedEarly: false });
    expect(await rowExists(t.app, refused.id)).toBe(false);
    expect(await filesIn(refused.location)).toEqual([]);
  });

  it(`stops a run after ${RETENTION_MAX_FAILURES_IN_A_ROW} deletions failed in a row (storage down), keeping every row`, async () => {
    const jobs = [];
    for (let i = 0; i < RETENTION_MAX_FAILURES_IN_A_ROW + 2; i++)
      jobs.push(await failedExport(t.app));
    for (const job of jobs) await finishedHoursAgo(t.app, job.id, 2);
    const deletion = refuseDeletion(t.app, () => true);

    expect(await purge(t.app)).toEqual({
      purged: 0,
      failed: RETENTION_MAX_FAILURES_IN_A_ROW,
      stoppedEarly: true,
    });

    expect(deletion).toHaveBeenCalledTimes(RETENTION_MAX_FAILURES_IN_A_ROW);
    for (const job of jobs) expect(await rowExists(t.app, job.id)).toBe(true);
  });

  it('works through more expired exports than one batch, skipping the one it could not delete', async () => {
    const count = RETENTION_BATCH_SIZE + 20;
    const db = t.app.get(DataSource);
    const rows = await db.query<{ id: string }[]>(
      `INSERT INTO export_job (id, level, request, request_key, request_url, transaction_time,
                               snapshot, status, location, finished_at)
       SELECT gen_random_uuid(), 'system', '{}', 'k' || i, 'http://x/$export', now(), '',
              (ARRAY['completed', 'failed', 'cancelled'])[1 + i % 3],
              jsonb_build_object('container', 'retention-batch-' || i, 'prefix', ''),
              now() - interval '2 hours' - i * interval '1 second'
         FROM generate_series(1, $1::int) AS i
       RETURNING id`,
      [count],
    );
    expect(rows).toHaveLength(count);
    // The oldest one: the first of the first batch.
    refuseDeletion(t.app, (l) => l.container === `retention-batch-${count}`);

    expect(await purge(t.app)).toEqual({ purged: count - 1, failed: 1, stoppedEarly: false });

    const left = await db.query<{ container: string }[]>(
      `SELECT location->>'container' AS container FROM export_job`,
    );
    expect(left).toEqual([{ container: `retention-batch-${count}` }]);
  });
});

describe('export retention: the scheduled purge (EXPORT_RETENTION_HOURS=0.0003, about 1 s)', () => {
  const RETENTION_HOURS = 0.0003;
  const t = useExportApp({
    EXPORT_RETENTION_HOURS: String(RETENTION_HOURS),
    EXPORT_RETENTION_SWEEP_MS: '300',
    // The queued job below has no queue entry on purpose: no sweep may add one.
    EXPORT_REQUEUE_INTERVAL_MS: '3600000',
    EXPORT_PAGE_SIZE: '5',
    EXPORT_CHECKPOINT_MB: '0.001',
  });

  it('purges completed, failed and cancelled exports once expired, after a run that failed, and keeps queued and running ones', async () => {
    // Held until every export below is set up, so that none is purged before the test saw it.
    await retentionWorker(t.app).pause();
    // A run the app made on start may have purged what an earlier suite left in the table:
    // only this test's runs count below.
    await maintenanceQueue(t.app).clean(0, 1000, 'completed');
    await store(t.app, paddedPatients(30));

    const completed = await exportManifest(t.app, '/$export', { query: { _type: 'Patient' } });
    const cancelled = await exportManifest(t.app, '/$export', {
      query: { _type: 'Patient', _container: 'retention-cancelled' },
    });
    const completedRow = await jobRow(t.app, exportIdOf(completed.statusPath));
    const cancelledRow = await jobRow(t.app, exportIdOf(cancelled.statusPath));
    expect(await filesIn(completedRow.location)).toHaveLength(1);
    expect((await api(t.app).delete(cancelled.statusPath)).status).toBe(202);
    // As if the cancel's own deletion had failed: the purge must remove what is left.
    await leaveFile(t.app, cancelledRow.location);
    const failed = await failedExport(t.app);
    const queuedId = await unqueuedJob(t.app, { types: ['Observation'] });

    const runs = recordRuns(t.app);
    const held = holdPageRead(t.app, 3);
    let runningId = '';
    try {
      runningId = exportIdOf(await kickOff(t.app, '/$export', { query: { _type: 'Patient' } }));
      await held.reached;

      const db = t.app.get(DataSource);
      await eventually(async () => {
        const [row] = await db.query<{ young: number }[]>(
          `SELECT count(*)::int AS young FROM export_job
            WHERE finished_at >= now() - $1::float8 * interval '1 hour'`,
          [RETENTION_HOURS],
        );
        return row.young === 0;
      }, 'the finished exports to expire');

      // PostgreSQL fails the first run's query: the job fails, the next tick's run purges.
      const query = db.query.bind(db);
      let refused = false;
      jest.spyOn(db, 'query').mockImplementation((sql: string, ...rest: unknown[]) => {
        if (!refused && /^SELECT id, location FROM export_job/.test(sql)) {
          refused = true;
          return Promise.reject(new Error('Connection terminated unexpectedly'));
        }
        return query(sql, ...(rest as []));
      });
      retentionWorker(t.app).resume();

      const purgedIds = [completedRow.id, cancelledRow.id, failed.id];
      await eventually(
        async () => {
          for (const id of purgedIds) if (await rowExists(t.app, id)) return false;
          return true;
        },
        'the expired exports to be purged',
        20_000,
      );

      expect(refused).toBe(true);
      const queue = maintenanceQueue(t.app);
      const failedRuns = await queue.getJobs(['failed']);
      expect(failedRuns.map((job) => job.failedReason)).toEqual([
        'Connection terminated unexpectedly',
      ]);
      // The run that deleted the last row may still be finishing its queue job.
      const purgedByRuns = async () =>
        (await queue.getJobs(['completed'])).reduce(
          (sum, job) => sum + (job.returnvalue as RetentionRun).purged,
          0,
        );
      await eventually(async () => (await purgedByRuns()) >= 3, 'the runs to complete');
      expect(await purgedByRuns()).toBe(3);

      for (const location of [completedRow.location, cancelledRow.location, failed.location]) {
        expect(await filesIn(location)).toEqual([]);
      }
      await expectPurged(t.app, completed.statusPath, completed.manifest.output[0].url);
      await expectPurged(t.app, cancelled.statusPath, cancelled.manifest.output[0].url);

      expect((await jobRow(t.app, queuedId)).status).toBe('queued');
      expect((await jobRow(t.app, runningId)).status).toBe('running');
    } finally {
      held.release();
      await Promise.all(runs);
    }
  });
});

describe('export retention: one purge per tick across worker processes', () => {
  const SWEEP_MS = 400;
  // The API alone: it must not schedule or run the purge; the workers below do.
  const t = useExportApp({ ROLE: 'api', EXPORT_RETENTION_SWEEP_MS: String(SWEEP_MS) });
  const workers: INestApplicationContext[] = [];
  let queue: Queue;

  beforeAll(() => {
    queue = new Queue(EXPORT_MAINTENANCE_QUEUE, {
      connection: redisConnection(t.config.REDIS_URL),
      prefix: t.config.QUEUE_PREFIX,
    });
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await queue.close();
  });

  /** A ROLE=worker application on the API's database and queues, as a worker process runs it. */
  async function startWorker(): Promise<INestApplicationContext> {
    const config = loadConfig({
      ...process.env,
      ROLE: 'worker',
      QUEUE_PREFIX: t.config.QUEUE_PREFIX,
      EXPORT_RETENTION_SWEEP_MS: String(SWEEP_MS),
    });
    const worker = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
      logger: false,
    });
    workers.push(worker);
    return worker;
  }

  async function stopWorkers(): Promise<void> {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  }

  /** The scheduler's jobs that ran, as the times (ms) of the ticks they belong to. */
  async function ranTicks(): Promise<number[]> {
    const jobs = await queue.getJobs(['completed', 'failed']);
    return jobs.map((job) => Number(job.id?.split(':').pop())).sort((a, b) => a - b);
  }

  it('runs the purge once per tick with two workers, and the schedule survives their restart', async () => {
    expect(await queue.getJobSchedulers()).toEqual([]);
    const purges = jest.spyOn(ExportRetentionService.prototype, 'purgeExpired');

    await Promise.all([startWorker(), startWorker()]);
    // Both registered it at start: still one scheduler.
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.every])).toEqual([['export-retention', SWEEP_MS]]);
    await eventually(async () => (await queue.getCompletedCount()) >= 4, 'four purge runs');
    await stopWorkers();

    const ticks = await ranTicks();
    // Every run is one scheduler job, each of its own tick, the ticks SWEEP_MS or more apart.
    expect(purges).toHaveBeenCalledTimes(ticks.length);
    const gaps = ticks.slice(1).map((tick, i) => tick - ticks[i]);
    expect(gaps.filter((gap) => gap < SWEEP_MS)).toEqual([]);

    // The schedule is in Redis: a worker started later registers nothing new and runs on.
    await startWorker();
    expect((await queue.getJobSchedulers()).length).toBe(1);
    await eventually(async () => (await ranTicks()).length > ticks.length, 'a run after restart');
    await stopWorkers();
    const after = await ranTicks();
    expect(purges).toHaveBeenCalledTimes(after.length);
    expect(after.slice(0, ticks.length)).toEqual(ticks);
    expect(after[ticks.length] - ticks[ticks.length - 1]).toBeGreaterThanOrEqual(SWEEP_MS);
  });
});
