import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module, Provider } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { ResourcesModule } from '../resources/resources.module';
import { SearchModule } from '../search/search.module';
import { ExportKickoffController } from './controllers/export-kickoff.controller';
import { ExportStatusController } from './controllers/export-status.controller';
import { ExportCancelService } from './export-cancel.service';
import { ExportCapabilities } from './export-capabilities.service';
import { ExportKickoffService } from './export-kickoff.service';
import { EXPORT_QUEUE } from './export-queue';
import { ExportStatusService } from './export-status.service';
import { GroupMembers } from './group-members.service';
import { ExportJobEntity } from './job/export-job.entity';
import { ExportJobService } from './job/export-job.service';
import { ExportProcessor, exportProcessorFor } from './processor/export.processor';
import { ExportRunner } from './processor/export.runner';
import { ExportReadRepository } from './read/export-read.repository';
import { PostgresExportReadRepository } from './read/postgres-export-read.repository';
import { exportSinkProvider } from './storage/export-sink.provider';

/**
 * HL7 Bulk Data `$export`: kick-off, status, cancel and download over HTTP (role api),
 * and the BullMQ worker that writes the NDJSON files (role worker).
 */
@Module({})
export class BulkExportModule {
  static forRoot(config: AppConfig): DynamicModule {
    const api = config.ROLE !== 'worker';
    const worker = config.ROLE !== 'api';
    const providers: Provider[] = [
      ExportJobService,
      ExportStatusService,
      ExportCancelService,
      ExportKickoffService,
      GroupMembers,
      exportSinkProvider,
    ];
    if (api) providers.push(ExportCapabilities);
    if (worker) {
      providers.push(
        { provide: ExportReadRepository, useClass: PostgresExportReadRepository },
        ExportRunner,
        { provide: ExportProcessor, useClass: exportProcessorFor(config) },
      );
    }
    return {
      module: BulkExportModule,
      imports: [
        ResourcesModule,
        SearchModule,
        TypeOrmModule.forFeature([ExportJobEntity]),
        BullModule.registerQueue({
          name: EXPORT_QUEUE,
          defaultJobOptions: {
            attempts: 1,
            removeOnComplete: { count: 1000, age: 7 * 24 * 3600 },
            removeOnFail: { count: 1000, age: 7 * 24 * 3600 },
          },
        }),
      ],
      controllers: api ? [ExportKickoffController, ExportStatusController] : [],
      providers,
      exports: [ExportJobService],
    };
  }
}
