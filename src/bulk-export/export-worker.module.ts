import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { SearchParametersModule } from '../search/search-parameters.module';
import { ExportAnonymizers } from './anonymized/export-anonymizer';
import { ExportJobsModule } from './export-jobs.module';
import { ExportProcessor, exportProcessorFor } from './processor/export.processor';
import { ExportRunner } from './processor/export.runner';
import { ExportReadRepository } from './read/export-read.repository';
import { GroupMembers } from './read/group-members.service';
import { PostgresExportReadRepository } from './read/postgres-export-read.repository';
import { ExportRetentionProcessor } from './retention/export-retention.processor';
import { ExportRetentionService } from './retention/export-retention.service';

/**
 * The export's worker (role worker): the BullMQ processor of the export queue and the runner
 * that pages resources through {@link ExportReadRepository} into NDJSON files; and the
 * maintenance queue's processor, which purges expired exports (never in an api process).
 */
@Module({})
export class ExportWorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ExportWorkerModule,
      imports: [ExportJobsModule, SearchParametersModule],
      providers: [
        { provide: ExportReadRepository, useClass: PostgresExportReadRepository },
        GroupMembers,
        ExportAnonymizers,
        ExportRunner,
        { provide: ExportProcessor, useClass: exportProcessorFor(config) },
        ExportRetentionService,
        ExportRetentionProcessor,
      ],
    };
  }
}
