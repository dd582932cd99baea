import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ExportJobService } from '../../src/bulk-export/job/export-job.service';
import { RotatingNdjsonWriter } from '../../src/bulk-export/ndjson/rotating-ndjson.writer';
import { ExportRunner } from '../../src/bulk-export/processor/export.runner';
import {
  ExportReadRepository,
  NdjsonPage,
} from '../../src/bulk-export/read/export-read.repository';
import { ExportSink } from '../../src/bulk-export/storage/export-sink';
import { listBlobNames, readText } from '../support/azurite';
import { paddedPatients, patientsWithObservations } from '../support/export-factories';
import {
  currentContentByType,
  jobRow,
  ndjsonLines,
  store,
  useExportApp,
} from '../support/export-helpers';
import { unqueuedJob } from '../support/export-jobs';
import { checkpointsSaved, holdPageRead } from '../support/export-spies';

/**
 * ExportRunner run directly on job rows against the real PostgreSQL and Azurite. The jobs never
 * reach the queue, so the app's own worker leaves them to the test.
 */
describe('ExportRunner (medium: a run on a job row, real PostgreSQL and storage)', () => {
  // Pages of five, each checkpointed (paddedPatients are about 600 bytes each).
  const t = useExportApp({ EXPORT_PAGE_SIZE: '5', EXPORT_CHECKPOINT_MB: '0.001' });
  let runner: ExportRunner;
  let jobs: ExportJobService;

  beforeAll(() => {
    runner = t.app.get(ExportRunner);
    jobs = t.app.get(ExportJobService);
  });

  /** The NDJSON lines of one of the job's files, read straight from storage. */
  async function fileLines(id: string, name: string): Promise<string[]> {
    const { location } = await jobRow(t.app, id);
    return ndjsonLines(await readText(await t.app.get(ExportSink).read(location, name)));
  }

  /** Current resources per type, as the database counts them. */
  async function countsInDatabase(): Promise<Record<string, number>> {
    const rows = await t.app
      .get(DataSource)
      .query<{ type: string; n: number }[]>(
        'SELECT type, count(*)::int AS n FROM resource WHERE superseded_at IS NULL AND NOT deleted GROUP BY type',
      );
    return Object.fromEntries(rows.map((r) => [r.type, r.n]));
  }

  /**
   * Starts a run of 30 padded Patients and holds it with two pages durable and the read of the
   * third in flight (the runner reads a page ahead while it writes the one before).
   */
  async function runHeldAfterTwoPages() {
    await store(t.app, paddedPatients(30));
    const id = await unqueuedJob(t.app, { types: ['Patient'] });
    const held = holdPageRead(t.app, 3);
    const twoPagesDurable = checkpointsSaved(t.app, 2);
    const writes = jest.spyOn(RotatingNdjsonWriter.prototype, 'write');
    const run = runner.run(id);
    await held.reached;
    await twoPagesDurable;
    const { location } = await jobRow(t.app, id);
    expect(await listBlobNames(location.container)).toEqual(['Patient-1.ndjson']);
    expect(writes).toHaveBeenCalledTimes(2);
    return { id, run, held, writes, location };
  }

  it('completes a job: the manifest counts equal the database, the files hold exactly its resources', async () => {
    await store(t.app, patientsWithObservations(6, 2));
    const id = await unqueuedJob(t.app, { types: ['Observation', 'Patient'] });

    await runner.run(id);

    const row = await jobRow(t.app, id);
    expect(row.status).toBe('completed');
    expect(row.error).toBeNull();
    const output = row.manifest?.output ?? [];
    expect(Object.fromEntries(output.map((f) => [f.type, f.count]))).toEqual(
      await countsInDatabase(),
    );
    expect(output.map((f) => f.name)).toEqual(['Observation-1.ndjson', 'Patient-1.ndjson']);
    const expected = await currentContentByType(t.app);
    for (const file of output) {
      expect(await fileLines(id, file.name)).toEqual(expected.get(file.type));
    }
    expect(row.progress).toMatchObject({ total: 18, exported: 18 });
    expect(row.checkpoint.types?.Patient).toMatchObject({ done: true, cursor: expect.any(String) });
  });

  it('writes no file for a type with nothing to export, and completes with an empty manifest', async () => {
    await store(t.app, paddedPatients(2));
    const id = await unqueuedJob(t.app, { types: ['Observation'] });

    await runner.run(id);

    const row = await jobRow(t.app, id);
    expect(row).toMatchObject({ status: 'completed', manifest: { output: [], error: [] } });
    expect(await listBlobNames(row.location.container)).toEqual([]);
  });

  it('stops a job cancelled while it runs: nothing more is written, and it deletes its files', async () => {
    const { id, run, held, writes, location } = await runHeldAfterTwoPages();

    await jobs.cancel(id, (await jobRow(t.app, id)).owner);
    held.release();
    await run;

    // The page read ahead before the cancel is dropped, and no page after it is read.
    expect(writes).toHaveBeenCalledTimes(2);
    expect(held.calls()).toBe(3);
    expect(await listBlobNames(location.container)).toEqual([]);
    expect(await jobRow(t.app, id)).toMatchObject({ status: 'cancelled', manifest: null });
  });

  it('stops without writing once another run claimed the job, leaving the files and the row to that run', async () => {
    const { id, run, held, writes, location } = await runHeldAfterTwoPages();

    // Another worker takes the job over, as BullMQ does with a job whose lock ran out.
    const takeover = await jobs.claim(id);
    const claimed = await jobRow(t.app, id);
    held.release();
    await run;

    expect(writes).toHaveBeenCalledTimes(2);
    expect(held.calls()).toBe(3);
    expect(await jobRow(t.app, id)).toEqual(claimed);
    expect(claimed).toMatchObject({ status: 'running', manifest: null, error: null });
    expect(claimed.checkpoint.runId).toBe(takeover?.runId);
    expect(await listBlobNames(location.container)).toEqual(['Patient-1.ndjson']);
  });

  it('fails the job with an OperationOutcome that names no internal detail when a read fails', async () => {
    await store(t.app, paddedPatients(3));
    const id = await unqueuedJob(t.app, { types: ['Patient'] });
    jest
      .spyOn(t.app.get(ExportReadRepository), 'pageNdjson')
      .mockRejectedValue(new Error('injected: connection to 10.0.0.7 lost'));

    await runner.run(id);

    const row = await jobRow(t.app, id);
    expect(row.status).toBe('failed');
    expect(row.finishedAt).toBeInstanceOf(Date);
    expect(row.error).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'exception' }],
    });
    expect(row.error?.issue[0].diagnostics).toMatch(/correlation id [0-9a-f-]{36}/);
    expect(JSON.stringify(row.error)).not.toContain('10.0.0.7');
  });

  it('leaves a job that has ended, or an unknown id, alone', async () => {
    await store(t.app, paddedPatients(2));
    const id = await unqueuedJob(t.app, { types: ['Patient'] });
    await runner.run(id);
    const completed = await jobRow(t.app, id);
    const reads = jest.spyOn(t.app.get(ExportReadRepository), 'pageNdjson');
    const fail = jest.spyOn(jobs, 'fail');

    await runner.run(id);
    await runner.run(randomUUID());

    expect(reads).not.toHaveBeenCalled();
    expect(fail).not.toHaveBeenCalled();
    expect(await jobRow(t.app, id)).toEqual(completed);
  });
});

describe('ExportRunner page sizes (medium)', () => {
  // At most 1000 resources a page, and about 3 KB (3146 bytes): four or five ~650-byte Patients.
  const t = useExportApp({ EXPORT_PAGE_SIZE: '1000', EXPORT_PAGE_MB: '0.003' });

  it('asks each next page for as many resources as fit in EXPORT_PAGE_MB at the sizes seen so far', async () => {
    // More than the first page asks for, so later pages must be sized.
    await store(t.app, paddedPatients(260));
    const id = await unqueuedJob(t.app, { types: ['Patient'] });
    const reads = t.app.get(ExportReadRepository);
    const pages = jest.spyOn(reads, 'pageNdjson');

    await t.app.get(ExportRunner).run(id);

    const limits = pages.mock.calls.map(([query]) => query.limit);
    const results = await Promise.all(
      pages.mock.results.map((r) => r.value as Promise<NdjsonPage>),
    );
    // The first page asks for a few (its resources' size unknown), every later one for what fits.
    expect(limits[0]).toBeGreaterThan(5);
    expect(limits.length).toBeGreaterThan(10);
    expect(limits.slice(1).every((limit) => limit >= 4 && limit <= 5)).toBe(true);
    for (const page of results.slice(1)) expect(page.ndjson.length).toBeLessThanOrEqual(3146 + 700);
    expect(results.reduce((n, page) => n + page.count, 0)).toBe(260);
    expect((await jobRow(t.app, id)).manifest?.output).toEqual([
      expect.objectContaining({ type: 'Patient', count: 260 }),
    ]);
  });
});
