import { Injectable, Logger } from '@nestjs/common';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
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

  async cancel(id: string): Promise<void> {
    const job = /^[0-9a-f-]{36}$/i.test(id) ? await this.jobs.cancel(id) : null;
    if (!job) {
      throw new FhirException(FhirErrorCode.NotFound, `No export job ${id} (unknown or already cancelled)`);
    }
    // A running job deletes its own files when it sees the cancellation at its next page,
    // so that no block it is still writing outlives the delete.
    if (job.status !== 'running') {
      await this.sink.deleteAll(job.location).catch((error: unknown) => {
        this.logger.warn({ err: error, exportId: id }, 'could not delete files of a cancelled export');
      });
    }
  }
}
