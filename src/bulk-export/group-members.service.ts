import { Injectable } from '@nestjs/common';
import { FhirException } from '../common/fhir-exception';
import { ResourceRepository } from '../resources/resource.repository';

interface GroupMember {
  entity?: { reference?: string };
  inactive?: boolean;
  period?: { start?: string; end?: string };
}

const REFERENCE = /(?:^|\/)(Patient|Group)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** Patients of a Group for `/Group/{id}/$export` (Bulk Data IG, "Group of Patients"). */
@Injectable()
export class GroupMembers {
  constructor(private readonly resources: ResourceRepository) {}

  /** 404 unless the Group exists and is not deleted. */
  async assertExists(groupId: string): Promise<void> {
    const group = await this.resources.read('Group', groupId);
    if (!group || group.deleted) throw FhirException.notFound(`Group/${groupId} not found`);
  }

  /**
   * Ids of the Patients that are members at `at`: nested Groups expanded (cycles stopped),
   * members that are inactive or whose period excludes `at` skipped. Sorted, unique.
   */
  async patientIds(groupId: string, at: Date): Promise<string[]> {
    const patients = new Set<string>();
    const seen = new Set<string>();
    const pending = [groupId];
    while (pending.length) {
      const id = pending.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const group = await this.resources.read('Group', id);
      if (!group?.content) continue;
      const members = (JSON.parse(group.content) as { member?: GroupMember[] }).member ?? [];
      for (const member of members) {
        if (member.inactive || !inPeriod(member.period, at)) continue;
        const match = REFERENCE.exec(member.entity?.reference ?? '');
        if (!match) continue;
        if (match[1] === 'Patient') patients.add(match[2]);
        else pending.push(match[2]);
      }
    }
    return [...patients].sort();
  }
}

function inPeriod(period: GroupMember['period'], at: Date): boolean {
  if (!period) return true;
  if (period.start && new Date(period.start) > at) return false;
  if (period.end && new Date(period.end) < at) return false;
  return true;
}
