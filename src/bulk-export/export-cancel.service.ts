import { Injectable, Logger } from '@nestjs/common';
import { AccessPrincipal } from '../auth/access/principal';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { isExportId } from './export-id';
import { ExportJobService } from './job/export-job.service';
import { ExportSink } from './storage/export-sink';

/** Bulk Data IG "Bulk Data Delete Request": cancel a job or discard its output. */
@Injectable()
export class ExportCancelService {
  private readonly logger = new Logger(ExportCancelService.name);

  constructor(
    private readonly jobs: ExportJobService,
    private readonly sink: ExportSink,
  ) {}

  /** Another client's job reads as unknown (404), so that its existence does not leak. */
  async cancel(id: string, principal: AccessPrincipal): Promise<void> {
    const job = isExportId(id) ? await this.jobs.cancel(id, principal.clientId) : null;
    if (!job) {
      throw new FhirException(
        FhirErrorCode.NotFound,
        `No export job ${id} (unknown, already cancelled, or expired and purged)`,
      );
    }
    // Deleted here even when the job was running: the status read above may be stale (the run
    // can complete between that read and the cancel), and a completed run never cleans up. A
    // run that is still going deletes again when it sees the cancellation, so no block it was
    // still writing outlives the delete.
    await this.sink.deleteAll(job.location).catch((error: unknown) => {
      this.logger.warn(
        { err: error, exportId: id },
        'could not delete files of a cancelled export',
      );
    });
  }
}
