import { Injectable } from '@nestjs/common';
import { ExportRequest } from './export-request';
import { GroupMembers } from './group-members.service';
import { ExportJobService } from './job/export-job.service';

/** Bulk Data IG "Bulk Data Kick-off Request": starts (or joins) an export job. */
@Injectable()
export class ExportKickoffService {
  constructor(
    private readonly jobs: ExportJobService,
    private readonly groups: GroupMembers,
  ) {}

  /** Returns the id of the new job, or of the identical job of the same client still running. */
  async kickOff(request: ExportRequest, requestUrl: string, owner: string): Promise<string> {
    if (request.level === 'group') await this.groups.assertExists(request.groupId ?? '');
    const { id } = await this.jobs.kickOff({ request, requestUrl, owner });
    return id;
  }
}
