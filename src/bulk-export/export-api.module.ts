import { Module } from '@nestjs/common';
import { ResourcesModule } from '../resources/resources.module';
import { SearchParametersModule } from '../search/search-parameters.module';
import { ExportKickoffController } from './controllers/export-kickoff.controller';
import { ExportStatusController } from './controllers/export-status.controller';
import { ExportCancelService } from './export-cancel.service';
import { ExportCapabilities } from './export-capabilities.service';
import { ExportJobsModule } from './export-jobs.module';
import { ExportKickoffService } from './export-kickoff.service';
import { ExportStatusService } from './export-status.service';

/** HL7 Bulk Data `$export` over HTTP: kick-off, status, cancel and file download (role api). */
@Module({
  imports: [ExportJobsModule, ResourcesModule, SearchParametersModule],
  controllers: [ExportKickoffController, ExportStatusController],
  providers: [ExportKickoffService, ExportStatusService, ExportCancelService, ExportCapabilities],
})
export class ExportApiModule {}
