import { Job } from 'bullmq';
import { operationOutcome } from '../../src/common/operation-outcome';
import { ExportQueuePayload } from '../../src/bulk-export/export-queue';
import { ExportJobService } from '../../src/bulk-export/job/export-job.service';
import { ExportProcessor } from '../../src/bulk-export/processor/export.processor';
import { ExportRunner } from '../../src/bulk-export/processor/export.runner';
import {
  eventually,
  expectOperationOutcome,
  jobRow,
  useExportApp,
} from '../support/export-helpers';
import { exportQueue, kickOffJob, unqueuedJob } from '../support/export-jobs';
import { api, testClientId } from '../support/test-app';

const STALLED = 'job stalled more than allowable limit';

describe('ExportProcessor.onFailed (medium: the BullMQ worker against real PostgreSQL and Redis)', () => {
  const t = useExportApp();

  it('marks a job the queue gave up on as failed, with an OperationOutcome the status URL serves as 500, not as `transient` (which would tell the client to keep polling)', async () => {
    // An error that escapes the runner, as BullMQ's own give-up after too many stalls does.
    jest.spyOn(t.app.get(ExportRunner), 'run').mockRejectedValue(new Error(STALLED));
    // The test client's own, so that the status URL shows it to the test client.
    const id = await kickOffJob(t.app, { types: ['Patient'] }, { owner: testClientId(t.app) });

    await eventually(async () => (await jobRow(t.app, id)).status === 'failed', 'the job to fail');

    const row = await jobRow(t.app, id);
    expect(row.error).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'exception', diagnostics: expect.any(String) }],
    });
    expect(row.finishedAt).toBeInstanceOf(Date);
    const status = await api(t.app).get(`/_operations/export/${id}`);
    expectOperationOutcome(status, 500);
    expect(JSON.parse(status.text)).toEqual(row.error);
  });

  it('records in the queue, for Bull Board, why the runner failed an export, and leaves the row as the runner wrote it', async () => {
    const reason = 'The export failed: the export storage refused a request (403); start it again';
    jest.spyOn(t.app.get(ExportRunner), 'run').mockResolvedValue({ end: 'failed', reason });
    const fail = jest.spyOn(t.app.get(ExportJobService), 'fail');
    const id = await kickOffJob(t.app, { types: ['Patient'] });
    const queue = exportQueue(t.app);

    await eventually(async () => (await queue.getJobState(id)) === 'failed', 'the entry to fail');

    expect((await queue.getJob(id))?.failedReason).toBe(reason);
    expect(fail).not.toHaveBeenCalled();
  });

  it('serves a failure stored with the `transient` code (rows of older versions) as a final 500 `exception`', async () => {
    const id = await unqueuedJob(t.app, {}, { owner: testClientId(t.app) });
    await t.app
      .get(ExportJobService)
      .fail(id, operationOutcome('error', 'transient', 'Transactions stayed open'));

    const status = await api(t.app).get(`/_operations/export/${id}`);

    expectOperationOutcome(status, 500);
    expect(JSON.parse(status.text)).toEqual(
      operationOutcome('error', 'exception', 'Transactions stayed open'),
    );
  });

  it('tells the client a stalled export stopped, and keeps other errors’ details in the log', async () => {
    const processor = t.app.get(ExportProcessor);
    const stalled = await unqueuedJob(t.app);
    const broken = await unqueuedJob(t.app);
    const secret = 'duplicate key value violates unique constraint "ix_secret" (Patient/p-123)';

    await processor.onFailed(
      { data: { exportId: stalled } } as Job<ExportQueuePayload>,
      new Error(STALLED),
    );
    await processor.onFailed(
      { data: { exportId: broken } } as Job<ExportQueuePayload>,
      new Error(secret),
    );

    const [stalledError, brokenError] = [
      (await jobRow(t.app, stalled)).error,
      (await jobRow(t.app, broken)).error,
    ].map((e) => JSON.stringify(e));
    expect(stalledError).toMatch(/stopped responding too many times/);
    expect(brokenError).toMatch(/correlation id [0-9a-f-]{36}/);
    expect(brokenError).not.toMatch(/duplicate key|ix_secret|p-123/);
  });

  it.each([
    ['no job', undefined],
    ['a job without an exportId', { data: {} } as Job<ExportQueuePayload>],
  ])('does nothing for %s', async (_label, job) => {
    const id = await unqueuedJob(t.app);
    const queued = await jobRow(t.app, id);
    const fail = jest.spyOn(t.app.get(ExportJobService), 'fail');

    await t.app.get(ExportProcessor).onFailed(job, new Error(STALLED));

    expect(fail).not.toHaveBeenCalled();
    expect(await jobRow(t.app, id)).toEqual(queued);
  });

  it('does not throw from the event handler when the row cannot be updated', async () => {
    const id = await unqueuedJob(t.app);
    jest
      .spyOn(t.app.get(ExportJobService), 'fail')
      .mockRejectedValue(new Error('injected: database unavailable'));

    await expect(
      t.app
        .get(ExportProcessor)
        .onFailed({ data: { exportId: id } } as Job<ExportQueuePayload>, new Error(STALLED)),
    ).resolves.toBeUndefined();
  });
});

/**
 * `@nestjs/bullmq` takes worker options from class metadata, which exists before any
 * configuration does: each app must still get the options of its own AppConfig.
 */
describe('ExportProcessor worker options come from each app’s configuration', () => {
  const first = useExportApp({ EXPORT_WORKER_CONCURRENCY: '3', EXPORT_LOCK_MS: '4321' });
  const second = useExportApp({ EXPORT_WORKER_CONCURRENCY: '2', EXPORT_LOCK_MS: '6789' });

  it.each([
    ['first', first, { concurrency: 3, lockDuration: 4321, stalledInterval: 4321 }],
    ['second', second, { concurrency: 2, lockDuration: 6789, stalledInterval: 6789 }],
  ])(
    'gives the %s app’s BullMQ worker its EXPORT_WORKER_CONCURRENCY and EXPORT_LOCK_MS',
    (_label, t, expected) => {
      expect(t.app.get(ExportProcessor).worker.opts).toMatchObject({
        ...expected,
        maxStalledCount: 10,
        prefix: t.config.QUEUE_PREFIX,
      });
    },
  );
});

describe('ExportProcessor sweep for exports without a queue entry (medium)', () => {
  const t = useExportApp({ EXPORT_REQUEUE_INTERVAL_MS: '200' });

  it('runs an export whose enqueue was lost after start-up, without a worker restart', async () => {
    // The row is queued but nothing is in the queue: the kick-off's add never reached Redis.
    const id = await unqueuedJob(t.app, { types: ['Patient'] });
    expect(await exportQueue(t.app).getJob(id)).toBeUndefined();

    await eventually(async () => (await jobRow(t.app, id)).status === 'completed', 'the sweep');
  });
});
