import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job } from 'bullmq';
import { exportWorkerOptions } from '../../config/export-worker-options';
import { EXPORT_QUEUE, ExportQueuePayload } from '../export-queue';
import { ExportJobService } from '../job/export-job.service';
import { ExportRunner } from './export.runner';

/**
 * BullMQ worker of the export queue. A worker killed mid-job leaves its BullMQ job stalled;
 * BullMQ hands it to another worker, whose runner resumes from the job's checkpoint.
 */
@Processor(EXPORT_QUEUE, exportWorkerOptions())
export class ExportProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(ExportProcessor.name);

  constructor(
    private readonly runner: ExportRunner,
    private readonly jobs: ExportJobService,
  ) {
    super();
  }

  /** Picks up jobs whose enqueue was lost (an API process that died between insert and add). */
  async onApplicationBootstrap(): Promise<void> {
    const count = await this.jobs.requeueQueued();
    if (count) this.logger.log({ count }, 're-enqueued queued export jobs');
  }

  async process(job: Job<ExportQueuePayload>): Promise<void> {
    await this.runner.run(job.data.exportId);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<ExportQueuePayload> | undefined, error: Error): void {
    this.logger.error({ err: error, exportId: job?.data.exportId }, 'export job failed in the queue');
  }
}
