import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ResourcesModule } from '../resources/resources.module';
import { SearchParametersModule } from '../search/search-parameters.module';
import { ExportKickoffController } from './controllers/export-kickoff.controller';
import { ExportStatusController } from './controllers/export-status.controller';
import { ExportCancelService } from './export-cancel.service';
import { ExportCapabilities } from './export-capabilities.service';
import { ExportJobsModule } from './export-jobs.module';
import { ExportKickoffService } from './export-kickoff.service';
import { ExportStatusService } from './export-status.service';
import { AnonymizationConfigurations } from './anonymized/anonymization-configurations.service';
import { ExportAuditMiddleware } from './export-audit.middleware';
import { StatusPollLimiter } from './status-poll-limiter';

/** HL7 Bulk Data `$export` over HTTP: kick-off, status, cancel and file download (role api). */
@Module({
  imports: [AuthModule, ExportJobsModule, ResourcesModule, SearchParametersModule],
  controllers: [ExportKickoffController, ExportStatusController],
  providers: [
    ExportKickoffService,
    ExportStatusService,
    ExportCancelService,
    ExportCapabilities,
    StatusPollLimiter,
    AnonymizationConfigurations,
  ],
})
export class ExportApiModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ExportAuditMiddleware).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }
}
