import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Type,
} from '@nestjs/common';
import { Job, UnrecoverableError, WaitingError, WorkerOptions } from 'bullmq';
import { isDependencyUnavailable } from '../../common/dependency-unavailable';
import { internalError } from '../../common/internal-error';
import { operationOutcome } from '../../common/operation-outcome';
import { withTimeout } from '../../common/with-timeout';
import { AppConfig } from '../../config/app-config';
import { EXPORT_QUEUE, ExportQueuePayload } from '../export-queue';
import { ExportJobService } from '../job/export-job.service';
import { ExportRunner } from './export.runner';

/**
 * A job the runner failed and recorded: thrown so BullMQ (and Bull Board) show it failed with
 * its reason, and skipped by the `failed` handler, which records everything else.
 */
class ExportFailed extends UnrecoverableError {
  readonly recorded = true;
}

/** BullMQ's reason for a job that stalled more than `maxStalledCount` times. */
const STALLED = /stalled more than allowable limit/;

/**
 * BullMQ worker of the export queue. A worker killed mid-job leaves its BullMQ job stalled;
 * BullMQ hands it to another worker, whose runner resumes from the job's checkpoint.
 */
@Injectable()
export class ExportProcessor
  extends WorkerHost
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger(ExportProcessor.name);
  private sweep?: NodeJS.Timeout;
  private sweeping = false;
  /** Aborted at shutdown: every run checkpoints and hands its job back. */
  private readonly stopping = new AbortController();
  private readonly runs = new Set<Promise<unknown>>();

  constructor(
    private readonly runner: ExportRunner,
    private readonly jobs: ExportJobService,
    private readonly config: AppConfig,
  ) {
    super();
  }

  /**
   * Picks up unfinished jobs whose queue entry was lost (an API process that died between
   * insert and add, a flushed Redis): at start, and every EXPORT_REQUEUE_INTERVAL_MS after.
   * Every worker sweeps; adding an id the queue holds is a no-op, so they cannot collide.
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.sweepUnfinished();
    this.sweep = setInterval(
      () => void this.sweepUnfinished(),
      this.config.EXPORT_REQUEUE_INTERVAL_MS,
    );
    this.sweep.unref();
  }

  /**
   * Graceful stop (SIGTERM): take no new jobs, have every run checkpoint at its next page and
   * hand its job back to the queue, so another worker resumes it at once instead of after the
   * lock expires. Runs before the database and queue connections close. What has not released
   * within SHUTDOWN_TIMEOUT_MS is left to the lock to expire.
   */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweep);
    this.stopping.abort();
    const closing = this.worker.close();
    const bound = this.config.SHUTDOWN_TIMEOUT_MS;
    const running = this.runs.size;
    try {
      await withTimeout(Promise.allSettled([...this.runs, closing]), bound, 'releasing exports');
      if (running) this.logger.log({ running }, 'exports released for other workers');
    } catch {
      this.logger.warn({ running, bound }, 'exports not released in time; their locks will expire');
    }
  }

  private async sweepUnfinished(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const swept = await this.jobs.sweepUnfinished();
      if (swept.added || swept.requeued || swept.failed) {
        this.logger.log(swept, 'swept unfinished export jobs');
      }
    } catch (error) {
      // An outage of PostgreSQL or Redis: the next sweep tries again.
      this.logger.warn({ err: error }, 'could not look for unfinished export jobs');
    } finally {
      this.sweeping = false;
    }
  }

  async process(job: Job<ExportQueuePayload>, token?: string): Promise<void> {
    const run = this.runner.run(job.data.exportId, this.stopping.signal);
    this.runs.add(run);
    try {
      const result = await run;
      if (result.end === 'failed') throw new ExportFailed(result.reason);
      if (result.end === 'released') {
        // Back to waiting, lock dropped: the next free worker takes it now. Should Redis refuse,
        // the job stays active and its lock expires instead.
        await job.moveToWait(token).catch((error: unknown) => {
          this.logger.warn({ err: error, exportId: job.data.exportId }, 'could not release');
        });
        throw new WaitingError();
      }
    } finally {
      this.runs.delete(run);
    }
  }

  /**
   * The runner records its own failures, so this sees the rest: chiefly a job BullMQ gives up
   * after it stalled more than maxStalledCount times. The row must say so, or the client would
   * poll a 202 forever.
   */
  @OnWorkerEvent('failed')
  async onFailed(job: Job<ExportQueuePayload> | undefined, error: Error): Promise<void> {
    const exportId = job?.data.exportId;
    if (!exportId) {
      this.logger.error({ err: error }, 'a job without an export id failed in the export queue');
      return;
    }
    if (error instanceof ExportFailed) return;
    if (isDependencyUnavailable(error)) {
      // PostgreSQL failed before the run could claim or fail the job: the row stays unfinished,
      // and the sweep hands the export out again once the queue entry has ended.
      this.logger.warn({ err: error, exportId }, 'export ended by an outage; the sweep retries it');
      return;
    }
    // The client sees what it can act on; details (a database error, say) go to the log only.
    const outcome = STALLED.test(error.message)
      ? operationOutcome(
          'error',
          'exception',
          'The export stopped: the workers running it stopped responding too many times; start it again',
        )
      : internalError(this.logger, error, `Export ${exportId} failed in the job queue`);
    await this.jobs.fail(exportId, outcome).catch((err: unknown) => {
      this.logger.error({ err, exportId }, 'could not record the failure of an export');
    });
  }
}

/** BullMQ worker options of the export queue from this process's configuration. */
export function exportWorkerOptions(config: AppConfig): Partial<WorkerOptions> {
  return {
    concurrency: config.EXPORT_WORKER_CONCURRENCY,
    lockDuration: config.EXPORT_LOCK_MS,
    stalledInterval: config.EXPORT_LOCK_MS,
    // A stalled export resumes from its checkpoint, so being handed over is safe.
    maxStalledCount: 10,
  };
}

/**
 * {@link ExportProcessor} registered on the export queue with `config`'s worker options.
 * `@nestjs/bullmq` reads them from the class's `@Processor` metadata, which exists before DI
 * does, so each configuration gets its own subclass rather than options read at import time.
 */
export function exportProcessorFor(config: AppConfig): Type<ExportProcessor> {
  @Processor(EXPORT_QUEUE, exportWorkerOptions(config))
  class ConfiguredExportProcessor extends ExportProcessor {}
  return ConfiguredExportProcessor;
}
