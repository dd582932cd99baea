import { DataSource } from 'typeorm';
import { ExportCheckpoint } from '../src/bulk-export/job/export-job.entity';
import { ExportLocation } from '../src/bulk-export/storage/export-sink';
import { WriterCheckpoint } from '../src/bulk-export/ndjson/rotating-ndjson.writer';
import { ExportRunner } from '../src/bulk-export/processor/export.runner';
import { listBlobNames, testBlobService } from './support/azurite';
import {
  exportIdOf,
  idsOfLines,
  jobRow,
  kickOff,
  linesOfType,
  Manifest,
  pollUntilDone,
  store,
  useExportApp,
} from './support/export-helpers';
import { holdPageRead, recordRuns, waitFor, within } from './support/export-spies';
import { observation, patient } from './support/factories';
import { killAllWorkers, spawnWorker, WorkerProcess } from './support/worker-process';
import { api } from './support/test-app';

/**
 * Worker settings that make a few thousand small resources span many keyset pages, many
 * checkpoints and several files per type; a short lock hands a dead worker's job over quickly.
 */
const WORKER_ENV = {
  EXPORT_LOCK_MS: '2000',
  EXPORT_PAGE_SIZE: '50',
  EXPORT_CHECKPOINT_MB: '0.03',
  EXPORT_FILE_MAX_MB: '0.15',
};

const PATIENTS = 3000;
const TYPES = ['Observation', 'Patient'];

function writerOf(checkpoint: ExportCheckpoint, type: string): WriterCheckpoint | undefined {
  return checkpoint.types?.[type]?.writer as WriterCheckpoint | undefined;
}

/** Bytes of one type that a checkpoint says are durable. */
function checkpointedBytes(checkpoint: ExportCheckpoint, type: string): number {
  const writer = writerOf(checkpoint, type);
  if (!writer) return 0;
  return writer.files.reduce((n, f) => n + f.bytes, writer.current?.bytes ?? 0);
}

describe('$export crash-resume with worker processes killed by kill -9', () => {
  // Only the spawned worker processes run export jobs.
  const t = useExportApp({ ROLE: 'api' });
  let db: DataSource;

  beforeAll(() => {
    db = t.app.get(DataSource);
  });
  afterEach(async () => {
    await killAllWorkers();
  });

  /** A worker process on this app's queue. */
  function worker(): WorkerProcess {
    return spawnWorker({ ...WORKER_ENV, QUEUE_PREFIX: t.config.QUEUE_PREFIX });
  }

  async function storedBytes(location: ExportLocation, type: string): Promise<number> {
    const container = testBlobService().getContainerClient(location.container);
    let bytes = 0;
    for await (const blob of container.listBlobsFlat({ prefix: `${location.prefix}${type}-` })) {
      bytes += blob.properties.contentLength ?? 0;
    }
    return bytes;
  }

  async function committedBlockIds(location: ExportLocation, file: string): Promise<string[]> {
    const blob = testBlobService()
      .getContainerClient(location.container)
      .getBlockBlobClient(location.prefix + file);
    const list = await blob.getBlockList('committed');
    return (list.committedBlocks ?? []).map((b) => b.name ?? '');
  }

  /**
   * Waits until `due` accepts the job's checkpoint, then lets the worker go on until it has
   * committed its files up to its next checkpoint and is about to record it (a row lock holds
   * that UPDATE), and kills it there: storage then holds output that no saved checkpoint
   * covers. The dead worker's pending UPDATE is terminated with it, so it never lands.
   * Returns the last checkpoint the worker saved.
   */
  async function killBeforeNextCheckpoint(
    worker: WorkerProcess,
    exportId: string,
    due: (checkpoint: ExportCheckpoint) => boolean,
    what: string,
  ): Promise<ExportCheckpoint> {
    await waitFor(
      async () => {
        const job = await jobRow(t.app, exportId);
        if (job.status !== 'queued' && job.status !== 'running') {
          throw new Error(`the export is ${job.status} before ${what}`);
        }
        return due(job.checkpoint);
      },
      what,
      () => worker.output(),
    );
    const lock = db.createQueryRunner();
    await lock.connect();
    try {
      await lock.startTransaction();
      await lock.query('SELECT 1 FROM export_job WHERE id = $1 FOR UPDATE', [exportId]);
      const [{ pid }] = (await lock.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[];
      const blocked = await waitFor(
        async () => {
          const rows = await db.query<{ pid: number; query: string }[]>(
            'SELECT pid, query FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
            [pid],
          );
          return rows[0];
        },
        'the worker to record its next checkpoint',
        () => worker.output(),
      );
      expect(blocked.query).toMatch(/SET checkpoint = \$2/);
      await worker.kill();
      const [terminated] = (await lock.query('SELECT pg_terminate_backend($1, 10000) AS ok', [
        blocked.pid,
      ])) as { ok: boolean }[];
      expect(terminated.ok).toBe(true);
    } finally {
      if (lock.isTransactionActive) await lock.rollbackTransaction();
      await lock.release();
    }
    return (await jobRow(t.app, exportId)).checkpoint;
  }

  it('resumes from the last checkpoint after its workers die mid-file, and exports every resource exactly once', async () => {
    for (let start = 0; start < PATIENTS; start += 500) {
      const patients = await store(
        t.app,
        Array.from({ length: Math.min(500, PATIENTS - start) }, () => patient()),
      );
      await store(
        t.app,
        patients.map((p) => observation(`Patient/${p.id}`)),
      );
    }

    const statusPath = await kickOff(t.app, '/$export?_type=Observation,Patient');
    const exportId = exportIdOf(statusPath);
    const { location } = await jobRow(t.app, exportId);

    // Worker A dies while it writes Observation (the first type).
    const a = worker();
    await a.ready;
    const atFirstCrash = await killBeforeNextCheckpoint(
      a,
      exportId,
      (c) => (c.types?.Observation?.cursor ?? '0') !== '0',
      'worker A to checkpoint Observation',
    );
    const observationFile = writerOf(atFirstCrash, 'Observation')?.current;
    expect(observationFile).toBeTruthy();
    expect(await storedBytes(location, 'Observation')).toBeGreaterThan(
      checkpointedBytes(atFirstCrash, 'Observation'),
    );

    // Worker B takes the stalled job over, finishes Observation, and dies while it writes Patient.
    const b = worker();
    await b.ready;
    const atSecondCrash = await killBeforeNextCheckpoint(
      b,
      exportId,
      (c) =>
        c.runId !== atFirstCrash.runId &&
        c.types?.Observation?.done === true &&
        (c.types?.Patient?.cursor ?? '0') !== '0',
      'worker B to checkpoint Patient',
    );
    const patientFile = writerOf(atSecondCrash, 'Patient')?.current;
    expect(patientFile).toBeTruthy();
    expect(await storedBytes(location, 'Patient')).toBeGreaterThan(
      checkpointedBytes(atSecondCrash, 'Patient'),
    );

    // Worker C finishes the job.
    const c = worker();
    const res = await pollUntilDone(t.app, statusPath, 60_000);
    expect({ status: res.status, failure: res.status === 200 ? null : c.output() }).toEqual({
      status: 200,
      failure: null,
    });
    const manifest = res.body as Manifest;

    const rows = await db.query<{ type: string; id: string; content: string }[]>(
      'SELECT type, id, content FROM resource WHERE superseded_at IS NULL AND NOT deleted',
    );
    for (const type of TYPES) {
      const files = manifest.output.filter((o) => o.type === type);
      expect(files.length).toBeGreaterThan(1); // rolled over to several files
      // Each file holds the count the manifest gives it.
      const lines = await linesOfType(t.app, manifest, type);
      const ids = idsOfLines(lines);
      const expected = rows.filter((r) => r.type === type);
      expect(expected).toHaveLength(PATIENTS);
      expect(ids.length - new Set(ids).size).toBe(0); // no resource twice
      expect(new Set(ids)).toEqual(new Set(expected.map((r) => r.id)));
      expect(lines.sort()).toEqual(expected.map((r) => r.content).sort());
    }
    // No stray file of a dead worker is left beside the manifest's.
    expect(await listBlobNames(location.container, location.prefix)).toEqual(
      manifest.output.map((o) => location.prefix + new URL(o.url).pathname.split('/').pop()).sort(),
    );

    // The files open at each crash kept the blocks committed before the checkpoint and continued
    // after them: the job resumed where it was, it did not start over.
    for (const file of [observationFile, patientFile]) {
      const kept = file?.file.kind === 'azure-block-blob' ? file.file.blockIds : [];
      expect(kept.length).toBeGreaterThan(0);
      const committed = await committedBlockIds(location, file?.name ?? '');
      expect(committed.slice(0, kept.length)).toEqual(kept);
      expect(committed.length).toBeGreaterThan(kept.length);
    }
  }, 180_000);
});

describe('$export run fencing', () => {
  const t = useExportApp({ EXPORT_PAGE_SIZE: '5' });

  async function jobOutcome(exportId: string): Promise<Record<string, unknown>> {
    const [row] = await t.app
      .get(DataSource)
      .query<Record<string, unknown>[]>(
        'SELECT status, manifest, error, checkpoint, finished_at FROM export_job WHERE id = $1',
        [exportId],
      );
    return row;
  }

  it('stops a stalled run whose job another run took over, leaving the finished files alone', async () => {
    await store(
      t.app,
      Array.from({ length: 20 }, () => patient()),
    );
    const runner = t.app.get(ExportRunner);
    const runs = recordRuns(t.app);
    // The first run stalls after its first page, as a worker whose lock ran out would.
    const stall = holdPageRead(t.app, (query) => query.afterSeq !== '0');

    try {
      const statusPath = await kickOff(t.app, '/$export?_type=Patient');
      await within(stall.reached, 45_000, 'the first run to stall');
      // BullMQ hands the stalled job to another worker, whose run claims it and finishes it.
      const exportId = exportIdOf(statusPath);
      await runner.run(exportId);
      expect(runs).toHaveLength(2); // the stalled run from the queue, and the one that took over
      const finished = await jobOutcome(exportId);
      expect(finished.status).toBe('completed');
      stall.release();
      await runs[0];

      expect(await jobOutcome(exportId)).toEqual(finished);
      const after = await api(t.app).get(statusPath);
      expect(after.status).toBe(200);
      const rows = await t.app
        .get(DataSource)
        .query<{ content: string }[]>('SELECT content FROM resource WHERE type = $1', ['Patient']);
      const lines = await linesOfType(t.app, after.body as Manifest, 'Patient');
      expect(lines.sort()).toEqual(rows.map((r) => r.content).sort());
    } finally {
      stall.release();
    }
  });
});
