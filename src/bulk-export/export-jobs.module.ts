import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EXPORT_QUEUE } from './export-queue';
import { EXPORT_MAINTENANCE_QUEUE } from './retention/export-maintenance.queue';
import { ExportJobEntity } from './job/export-job.entity';
import { KeySealer } from './anonymized/key-sealer.service';
import { ExportJobService } from './job/export-job.service';
import { exportSinkProvider } from './storage/export-sink.provider';

/**
 * What the export's HTTP side and its workers share: the job rows (the truth for status and
 * cancel), the BullMQ queue that carries job ids, the maintenance queue (workers run its
 * scheduled purge; the API shows it in Bull Board), and the storage sink the files live in.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([ExportJobEntity]),
    BullModule.registerQueue({
      name: EXPORT_QUEUE,
      defaultJobOptions: {
        attempts: 1,
        removeOnComplete: { count: 1000, age: 7 * 24 * 3600 },
        removeOnFail: { count: 1000, age: 7 * 24 * 3600 },
      },
    }),
    BullModule.registerQueue({ name: EXPORT_MAINTENANCE_QUEUE }),
  ],
  providers: [ExportJobService, exportSinkProvider, KeySealer],
  exports: [ExportJobService, exportSinkProvider, KeySealer, BullModule],
})
export class ExportJobsModule {}
