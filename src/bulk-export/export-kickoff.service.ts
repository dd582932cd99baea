import { Injectable } from '@nestjs/common';
import { FhirException } from '../common/fhir-exception';
import { ResourceRepository } from '../resources/resource.repository';
import { ExportRequest } from './export-request';
import { ExportJobService } from './job/export-job.service';

/** Bulk Data IG "Bulk Data Kick-off Request": starts (or joins) an export job. */
@Injectable()
export class ExportKickoffService {
  constructor(
    private readonly jobs: ExportJobService,
    private readonly resources: ResourceRepository,
  ) {}

  /** Returns the id of the new job, or of the identical job of the same client still running. */
  async kickOff(request: ExportRequest, requestUrl: string, owner: string): Promise<string> {
    if (request.level === 'group') await this.assertGroupExists(request.groupId ?? '');
    const { id } = await this.jobs.kickOff({ request, requestUrl, owner });
    return id;
  }

  private async assertGroupExists(groupId: string): Promise<void> {
    const group = await this.resources.read('Group', groupId);
    if (!group || group.deleted) throw FhirException.notFound(`Group/${groupId} not found`);
  }
}
