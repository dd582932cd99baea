import { Injectable } from '@nestjs/common';
import { parseLocalReference } from '../../fhir/local-reference';
import { ExportReadRepository } from './export-read.repository';

interface GroupMember {
  entity?: { reference?: string };
  inactive?: boolean;
  period?: { start?: string; end?: string };
}

/** Patients of a Group for `/Group/{id}/$export` (Bulk Data IG, "Group of Patients"). */
@Injectable()
export class GroupMembers {
  constructor(private readonly reads: ExportReadRepository) {}

  /**
   * Ids of the Patients that are members at `at`, each Group read in its version current at
   * `at`: nested Groups expanded (cycles stopped), members that are inactive or whose period
   * excludes `at` skipped. Sorted, unique.
   */
  async patientIds(groupId: string, at: Date): Promise<string[]> {
    return (await this.expand(groupId, at)).patientIds;
  }

  /**
   * Ids of the Groups read on the way to {@link patientIds}: `groupId` and every nested Group an
   * active member reaches at `at`. A Group-level export leaves them out of its output. Sorted,
   * unique. (A second walk of the same versions: Group-level exports call both once per job.)
   */
  async groupIds(groupId: string, at: Date): Promise<string[]> {
    return (await this.expand(groupId, at)).groupIds;
  }

  private async expand(
    groupId: string,
    at: Date,
  ): Promise<{ patientIds: string[]; groupIds: string[] }> {
    const patients = new Set<string>();
    const seen = new Set<string>();
    const pending = [groupId];
    while (pending.length) {
      const id = pending.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const group = await this.reads.versionAsOf('Group', id, at);
      if (!group) continue;
      const members = (JSON.parse(group) as { member?: GroupMember[] }).member ?? [];
      for (const member of members) {
        if (member.inactive || !inPeriod(member.period, at)) continue;
        const target = parseLocalReference(member.entity?.reference ?? '');
        if (target?.type === 'Patient') patients.add(target.id);
        else if (target?.type === 'Group') pending.push(target.id);
      }
    }
    return { patientIds: [...patients].sort(), groupIds: [...seen].sort() };
  }
}

function inPeriod(period: GroupMember['period'], at: Date): boolean {
  if (!period) return true;
  const start = period.start ? bounds(period.start) : undefined;
  const end = period.end ? bounds(period.end) : undefined;
  // A partial date covers its whole year, month or day: `end: 2024-05-01` includes that day.
  if (start && start.from > at.getTime()) return false;
  if (end && end.to <= at.getTime()) return false;
  return true;
}

/** The instants a FHIR dateTime of any precision covers, [from, to); date-only ones in UTC. */
function bounds(value: string): { from: number; to: number } | undefined {
  const partial = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  if (!partial) {
    const instant = Date.parse(value);
    if (Number.isNaN(instant)) return undefined;
    return { from: instant, to: instant + (/\.\d/.test(value) ? 1 : 1000) };
  }
  const [year, month, day] = [Number(partial[1]), partial[2], partial[3]];
  if (day) {
    const from = Date.UTC(year, Number(month) - 1, Number(day));
    return { from, to: Date.UTC(year, Number(month) - 1, Number(day) + 1) };
  }
  if (month) return { from: Date.UTC(year, Number(month) - 1), to: Date.UTC(year, Number(month)) };
  return { from: Date.UTC(year, 0), to: Date.UTC(year + 1, 0) };
}
