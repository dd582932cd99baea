import { Job, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { operationOutcome } from '../../src/common/operation-outcome';
import { ExportCheckpoint, ExportProgress } from '../../src/bulk-export/job/export-job.entity';
import { ExportJobService } from '../../src/bulk-export/job/export-job.service';
import { ExportQueuePayload } from '../../src/bulk-export/export-queue';
import { jobRow, useExportApp } from '../support/export-helpers';
import { exportQueue, kickOffJob } from '../support/export-jobs';

const OUTCOME = operationOutcome('error', 'exception', 'injected failure');
const MANIFEST = { output: [{ type: 'Patient', name: 'Patient-1.ndjson', count: 3, bytes: 99 }] };

/** A checkpoint of one type, `cursor` rows in. */
function checkpointAt(cursor: string): ExportCheckpoint {
  return { types: { Patient: { cursor, done: false, files: [] } } };
}

const PROGRESS: ExportProgress = { phase: 'exporting', total: 10, exported: 5 };

/**
 * ExportJobService against the real export_job table and queue. The app runs the API role only,
 * so no worker takes the jobs these tests create: each job moves only as the test moves it.
 */
describe('ExportJobService (medium: real PostgreSQL and Redis, no worker)', () => {
  // Short lock and staleness bounds, so the sweep's decisions come within a test's time.
  const t = useExportApp({ ROLE: 'api', EXPORT_LOCK_MS: '1000', EXPORT_STALE_MS: '1000' });
  let jobs: ExportJobService;

  beforeAll(() => {
    jobs = t.app.get(ExportJobService);
  });

  /** Cancels as the job's own client would. */
  async function cancel(id: string) {
    return jobs.cancel(id, (await jobRow(t.app, id).catch(() => undefined))?.owner ?? '');
  }

  /** A job that `claim` has made running; returns its id and the run id of the claim. */
  async function runningJob(): Promise<{ id: string; runId: string }> {
    const id = await kickOffJob(t.app);
    const claim = await jobs.claim(id);
    if (!claim) throw new Error(`could not claim ${id}`);
    return { id, runId: claim.runId };
  }

  describe('claim', () => {
    it('moves a queued job to running, stamps started_at and returns the checkpoint under a new run id', async () => {
      const id = await kickOffJob(t.app);
      expect((await jobRow(t.app, id)).status).toBe('queued');

      const claim = await jobs.claim(id);

      const row = await jobRow(t.app, id);
      expect(row.status).toBe('running');
      expect(row.startedAt).toBeInstanceOf(Date);
      expect(claim).toEqual({ runId: expect.any(String), checkpoint: { runId: claim?.runId } });
      expect(row.checkpoint).toEqual({ runId: claim?.runId });
      expect(await jobs.runState(id, claim?.runId ?? '')).toBe('owned');
    });

    it('hands a later run the checkpoint the earlier one saved, keeping started_at', async () => {
      const { id, runId } = await runningJob();
      expect(await jobs.saveCheckpoint(id, runId, checkpointAt('42'), PROGRESS)).toBe(true);
      const { startedAt } = await jobRow(t.app, id);

      const second = await jobs.claim(id);

      expect(second?.runId).not.toBe(runId);
      expect(second?.checkpoint).toEqual({ ...checkpointAt('42'), runId: second?.runId });
      expect((await jobRow(t.app, id)).startedAt).toEqual(startedAt);
    });

    it('fences off the earlier run: it can no longer checkpoint, report progress, fail or complete the job', async () => {
      const { id, runId: first } = await runningJob();
      expect(await jobs.saveCheckpoint(id, first, checkpointAt('5'), PROGRESS)).toBe(true);
      const second = (await jobs.claim(id))?.runId ?? '';
      const claimed = await jobRow(t.app, id);

      expect(await jobs.runState(id, first)).toBe('lost');
      expect(await jobs.runState(id, second)).toBe('owned');
      expect(await jobs.saveCheckpoint(id, first, checkpointAt('10'), PROGRESS)).toBe(false);
      await jobs.saveProgress(id, first, { phase: 'exporting', total: 10, exported: 10 });
      await jobs.fail(id, OUTCOME, first);
      expect(await jobs.complete(id, first, { ...MANIFEST, error: [] })).toBe(false);
      expect(await jobRow(t.app, id)).toEqual(claimed);

      // The run that holds the claim goes on.
      expect(await jobs.saveCheckpoint(id, second, checkpointAt('10'), PROGRESS)).toBe(true);
      expect(await jobs.complete(id, second, { ...MANIFEST, error: [] })).toBe(true);
      expect((await jobRow(t.app, id)).status).toBe('completed');
    });

    it.each([
      [
        'completed',
        (id: string, runId: string) => jobs.complete(id, runId, { ...MANIFEST, error: [] }),
      ],
      ['failed', (id: string, runId: string) => jobs.fail(id, OUTCOME, runId)],
      ['cancelled', (id: string) => cancel(id)],
    ])('claims nothing once the job is %s, and leaves its row alone', async (status, end) => {
      const { id, runId } = await runningJob();
      await end(id, runId);
      const ended = await jobRow(t.app, id);
      expect(ended.status).toBe(status);

      expect(await jobs.claim(id)).toBeNull();
      expect(await jobRow(t.app, id)).toEqual(ended);
    });

    it('claims nothing for an unknown id', async () => {
      expect(await jobs.claim(randomUUID())).toBeNull();
    });
  });

  describe('checkpoints and completion', () => {
    it('saves checkpoint and progress under the claim, stamped with the run id', async () => {
      const { id, runId } = await runningJob();

      expect(await jobs.saveCheckpoint(id, runId, checkpointAt('7'), PROGRESS)).toBe(true);

      const row = await jobRow(t.app, id);
      expect(row.checkpoint).toEqual({ ...checkpointAt('7'), runId });
      expect(row.progress).toEqual(PROGRESS);
    });

    it('saves no checkpoint for a job no run has claimed', async () => {
      const id = await kickOffJob(t.app);
      const queued = await jobRow(t.app, id);

      expect(await jobs.saveCheckpoint(id, randomUUID(), checkpointAt('7'), PROGRESS)).toBe(false);
      expect(await jobRow(t.app, id)).toEqual(queued);
    });

    it('completes a running job once: manifest and finished_at recorded, a second completion refused', async () => {
      const { id, runId } = await runningJob();
      const manifest = { ...MANIFEST, error: [] };

      expect(await jobs.complete(id, runId, manifest)).toBe(true);

      const row = await jobRow(t.app, id);
      expect(row).toMatchObject({ status: 'completed', manifest, error: null });
      expect(row.finishedAt).toBeInstanceOf(Date);
      expect(row.progress.phase).toBe('finishing');
      expect(await jobs.complete(id, runId, { output: [], error: [] })).toBe(false);
      expect((await jobRow(t.app, id)).manifest).toEqual(manifest);
    });
  });

  describe('fail', () => {
    it('fails a queued job without a run id, recording the OperationOutcome and finished_at', async () => {
      const id = await kickOffJob(t.app);

      await jobs.fail(id, OUTCOME);

      const row = await jobRow(t.app, id);
      expect(row).toMatchObject({ status: 'failed', error: OUTCOME });
      expect(row.finishedAt).toBeInstanceOf(Date);
    });

    it('fails a running job under its claim', async () => {
      const { id, runId } = await runningJob();

      await jobs.fail(id, OUTCOME, runId);

      expect(await jobRow(t.app, id)).toMatchObject({ status: 'failed', error: OUTCOME });
    });

    it('leaves a completed job completed', async () => {
      const { id, runId } = await runningJob();
      await jobs.complete(id, runId, { ...MANIFEST, error: [] });
      const completed = await jobRow(t.app, id);

      await jobs.fail(id, OUTCOME);

      expect(await jobRow(t.app, id)).toEqual(completed);
    });
  });

  describe('cancel', () => {
    it('cancels a running job: returns it as it was, and its run may no longer checkpoint, fail or complete', async () => {
      const { id, runId } = await runningJob();

      const before = await cancel(id);

      expect(before?.status).toBe('running');
      const cancelled = await jobRow(t.app, id);
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.finishedAt).toBeInstanceOf(Date);
      expect(await jobs.runState(id, runId)).toBe('cancelled');
      expect(await jobs.saveCheckpoint(id, runId, checkpointAt('5'), PROGRESS)).toBe(false);
      await jobs.fail(id, OUTCOME, runId);
      expect(await jobs.complete(id, runId, { ...MANIFEST, error: [] })).toBe(false);
      expect(await jobs.claim(id)).toBeNull();
      expect(await jobRow(t.app, id)).toEqual(cancelled);
    });

    it('takes a queued job off the queue', async () => {
      const id = await kickOffJob(t.app);
      expect(await exportQueue(t.app).getJobState(id)).toBe('waiting');

      await cancel(id);

      expect(await exportQueue(t.app).getJob(id)).toBeUndefined();
    });

    it('cancels a completed job too (its files are to go), keeping its finished_at', async () => {
      const { id, runId } = await runningJob();
      await jobs.complete(id, runId, { ...MANIFEST, error: [] });
      const { finishedAt } = await jobRow(t.app, id);

      expect((await cancel(id))?.status).toBe('completed');

      expect(await jobRow(t.app, id)).toMatchObject({ status: 'cancelled', finishedAt });
    });

    it("answers null for another client's job and leaves it running", async () => {
      const id = await kickOffJob(t.app);

      expect(await jobs.cancel(id, 'some-other-client')).toBeNull();

      expect((await jobRow(t.app, id)).status).toBe('queued');
    });

    it('answers null for a job already cancelled and for an unknown id', async () => {
      const id = await kickOffJob(t.app);
      expect(await cancel(id)).not.toBeNull();

      expect(await cancel(id)).toBeNull();
      expect(await cancel(randomUUID())).toBeNull();
    });
  });

  describe('sweepUnfinished', () => {
    it('re-enqueues the queued and running jobs whose queue entry is gone, once each, and no finished job', async () => {
      const queue = exportQueue(t.app);
      // The queue outlives the database reset: empty it of the entries earlier tests left.
      await queue.drain();
      const waiting = await kickOffJob(t.app);
      const lostQueued = await kickOffJob(t.app);
      const lostRunning = (await runningJob()).id;
      const completed = await runningJob();
      await jobs.complete(completed.id, completed.runId, { ...MANIFEST, error: [] });
      const failed = await kickOffJob(t.app);
      await jobs.fail(failed, OUTCOME);
      const cancelled = await kickOffJob(t.app);
      await cancel(cancelled);
      // Every entry but the waiting job's is gone, as after a Redis flush or an API process that
      // died between the insert and the add.
      for (const id of [lostQueued, lostRunning, completed.id, failed]) await queue.remove(id);
      expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 1 });

      expect(await jobs.sweepUnfinished()).toEqual({ added: 2, requeued: 0, failed: 0 });
      // An id the queue still holds is left alone: calling again adds nothing.
      expect(await jobs.sweepUnfinished()).toEqual({ added: 0, requeued: 0, failed: 0 });

      for (const id of [waiting, lostQueued, lostRunning]) {
        const entry = await queue.getJob(id);
        expect({ id, data: entry?.data, state: await queue.getJobState(id) }).toEqual({
          id,
          data: { exportId: id },
          state: 'waiting',
        });
      }
      for (const id of [completed.id, failed, cancelled]) {
        expect({ id, entry: await queue.getJob(id) }).toEqual({ id, entry: undefined });
      }
      expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 3 });
    });

    /** A worker that runs nothing: the tests take entries and end them by hand. */
    let inert: Worker<ExportQueuePayload>;
    beforeAll(() => {
      const queue = exportQueue(t.app);
      inert = new Worker<ExportQueuePayload>(queue.name, null, {
        connection: queue.opts.connection,
        prefix: queue.opts.prefix,
        autorun: false,
      });
    });
    afterAll(() => inert.close());

    /** Takes the next waiting entry as a worker would, without running anything. */
    async function takeNext(token: string): Promise<Job<ExportQueuePayload>> {
      const job = await inert.getNextJob(token);
      if (!job) throw new Error('no waiting export entry');
      return job;
    }

    it('hands out again an export whose queue entry ended while its row still runs, and fails it with the reason after the third time', async () => {
      const queue = exportQueue(t.app);
      await queue.drain();
      const { id } = await runningJob();
      for (let requeue = 1; requeue <= 3; requeue++) {
        const entry = await takeNext(`token-${requeue}`);
        expect(entry.id).toBe(id);
        // What BullMQ records when a worker lost PostgreSQL before its row could say so.
        await entry.moveToFailed(new Error('Driver not Connected'), `token-${requeue}`, false);
        // Within a lock period of the end, the worker that ended it may still be writing the row.
        expect(await jobs.sweepUnfinished()).toEqual({ added: 0, requeued: 0, failed: 0 });
        await new Promise((resolve) => setTimeout(resolve, 1100));

        expect(await jobs.sweepUnfinished()).toEqual({ added: 0, requeued: 1, failed: 0 });
        expect({
          state: await queue.getJobState(id),
          data: (await queue.getJob(id))?.data,
          status: (await jobRow(t.app, id)).status,
        }).toEqual({
          state: 'waiting',
          data: { exportId: id, requeues: requeue },
          status: 'running',
        });
      }
      const entry = await takeNext('token-4');
      await entry.moveToCompleted(undefined, 'token-4', false);
      await new Promise((resolve) => setTimeout(resolve, 1100));

      expect(await jobs.sweepUnfinished()).toEqual({ added: 0, requeued: 0, failed: 1 });
      const row = await jobRow(t.app, id);
      expect({ status: row.status, error: row.error }).toEqual({
        status: 'failed',
        error: operationOutcome(
          'error',
          'exception',
          'The export ended 4 times without finishing; start it again',
        ),
      });
    });

    it('fails a running export whose worker holds its lock but has not touched it for EXPORT_STALE_MS, and leaves a fresh one', async () => {
      const queue = exportQueue(t.app);
      await queue.drain();
      const stale = await runningJob();
      await takeNext('hung-worker');
      // Touched just now: not stale, though its entry is active too.
      const fresh = await runningJob();
      await jobs.saveProgress(stale.id, stale.runId, PROGRESS);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await jobs.saveProgress(fresh.id, fresh.runId, PROGRESS);
      await takeNext('live-worker');

      expect(await jobs.sweepUnfinished()).toEqual({ added: 0, requeued: 0, failed: 1 });

      const row = await jobRow(t.app, stale.id);
      expect({ status: row.status, diagnostics: row.error?.issue[0].diagnostics }).toEqual({
        status: 'failed',
        diagnostics: expect.stringMatching(
          /^The export stopped making progress: its worker has not touched it for \d+ (s|min); start it again$/,
        ) as unknown,
      });
      // The hung run is fenced off: it may neither checkpoint nor finish.
      expect(await jobs.runState(stale.id, stale.runId)).toBe('lost');
      expect((await jobRow(t.app, fresh.id)).status).toBe('running');
      expect((await queue.getJobLogs(stale.id)).logs).toEqual([row.error?.issue[0].diagnostics]);
    });
  });
});
