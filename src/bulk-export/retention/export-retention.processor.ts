import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { withTimeout } from '../../common/with-timeout';
import { AppConfig } from '../../config/app-config';
import {
  EXPORT_MAINTENANCE_QUEUE,
  RETENTION_JOB_NAME,
  RETENTION_SCHEDULER_ID,
} from './export-maintenance.queue';
import { ExportRetentionService, RetentionRun } from './export-retention.service';

/** Finished purge jobs BullMQ keeps for operators (Bull Board), per outcome. */
const KEEP_FINISHED_JOBS = 50;

/**
 * BullMQ worker of the maintenance queue: runs the retention purge of expired exports
 * ({@link ExportRetentionService}) for each job of a BullMQ job scheduler, so the purge runs
 * once per EXPORT_RETENTION_SWEEP_MS however many workers there are, and its schedule lives in
 * Redis across restarts. Only worker processes (ROLE=worker or all) load it.
 */
@Injectable()
@Processor(EXPORT_MAINTENANCE_QUEUE)
export class ExportRetentionProcessor
  extends WorkerHost
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger(ExportRetentionProcessor.name);
  private check?: NodeJS.Timeout;
  private checking = false;
  private stopping = false;

  constructor(
    private readonly retention: ExportRetentionService,
    @InjectQueue(EXPORT_MAINTENANCE_QUEUE) private readonly queue: Queue,
    private readonly config: AppConfig,
  ) {
    super();
    // Without a listener, a Redis connection error would be an unhandled 'error' event.
    this.queue.on('error', (error) => this.logger.warn({ err: error }, 'maintenance queue error'));
  }

  /**
   * Registers the scheduler at every start (an upsert: idempotent, it keeps the next run's time
   * and takes a changed interval), then makes sure every EXPORT_REQUEUE_INTERVAL_MS that it is
   * still there, for a Redis that was flushed or was down when this worker started.
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.ensureScheduler(true);
    this.check = setInterval(
      () => void this.ensureScheduler(false),
      this.config.EXPORT_REQUEUE_INTERVAL_MS,
    );
    this.check.unref();
  }

  /** Runs before BullMQ closes the worker, which waits for the active job: the purge stops early. */
  beforeApplicationShutdown(): void {
    this.stopping = true;
    clearInterval(this.check);
  }

  async process(job: Job): Promise<RetentionRun> {
    try {
      const run = await this.retention.purgeExpired(() => this.stopping);
      this.logger.log(
        { ...run, job: job.id, retentionHours: this.config.EXPORT_RETENTION_HOURS },
        `purged ${run.purged} expired export(s)`,
      );
      return run;
    } catch (error) {
      // An outage of PostgreSQL (or storage, through it): the job fails, the worker goes on,
      // and the scheduler's next job tries again.
      this.logger.warn({ err: error, job: job.id }, 'the purge of expired exports failed');
      throw error;
    }
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.logger.warn({ err: error }, 'maintenance worker error');
  }

  private async ensureScheduler(always: boolean): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      // While Redis is down the client queues commands until it reconnects: bound the wait.
      const timeoutMs = this.config.DEPENDENCY_TIMEOUT_MS;
      const every = this.config.EXPORT_RETENTION_SWEEP_MS;
      if (!always) {
        const current = await withTimeout(
          this.queue.getJobScheduler(RETENTION_SCHEDULER_ID),
          timeoutMs,
          'reading the retention schedule',
        );
        if (current?.every === every) return;
      }
      await withTimeout(
        this.queue.upsertJobScheduler(
          RETENTION_SCHEDULER_ID,
          { every },
          {
            name: RETENTION_JOB_NAME,
            opts: {
              attempts: 1,
              removeOnComplete: { count: KEEP_FINISHED_JOBS },
              removeOnFail: { count: KEEP_FINISHED_JOBS },
            },
          },
        ),
        timeoutMs,
        'registering the retention schedule',
      );
      if (!always) this.logger.log({ every }, 'registered the retention schedule again');
    } catch (error) {
      this.logger.warn(
        { err: error },
        'could not register the retention schedule; trying again later',
      );
    } finally {
      this.checking = false;
    }
  }
}
