import { Injectable } from '@nestjs/common';
import { parseLocalReference } from '../../fhir/local-reference';
import { ExportReadRepository } from './export-read.repository';

interface GroupMember {
  entity?: { reference?: string };
  inactive?: boolean;
  period?: { start?: string; end?: string };
}

/** The members of a Group as an export at one instant sees them. */
export interface GroupMembership {
  /** Patients that are active members at that instant, nested Groups expanded; sorted, unique. */
  patientIds: string[];
  /**
   * The Groups read on the way: the Group itself and every nested Group an active member
   * reaches. A Group-level export leaves them out of its output. Sorted, unique.
   */
  groupIds: string[];
  /**
   * Active members whose reference leads nowhere on this server at that instant: a `urn:uuid:`
   * or absolute URL, a missing reference, or a Patient or Group that does not exist (or was
   * deleted). Each with the Group that lists it.
   */
  unresolved: { groupId: string; reference: string }[];
}

/** Patients of a Group for `/Group/{id}/$export` (Bulk Data IG, "Group of Patients"). */
@Injectable()
export class GroupMembers {
  constructor(private readonly reads: ExportReadRepository) {}

  /**
   * The membership of Group `groupId` at `at`, each Group read in its version current at `at`:
   * nested Groups expanded (cycles stopped), members that are inactive or whose period
   * excludes `at` skipped. Members of other types (Practitioner, Device…) are not Patients and
   * are neither exported nor reported.
   */
  async membership(groupId: string, at: Date): Promise<GroupMembership> {
    const patients = new Map<string, string>();
    const unresolved: GroupMembership['unresolved'] = [];
    const seen = new Set<string>();
    const missingGroups = new Set<string>();
    // Each Group to read, with the Group that lists it (none for the exported Group itself).
    const pending: { id: string; listedBy?: string }[] = [{ id: groupId }];
    while (pending.length) {
      const { id, listedBy } = pending.pop() as { id: string; listedBy?: string };
      if (seen.has(id)) continue;
      seen.add(id);
      const group = await this.reads.versionAsOf('Group', id, at);
      if (!group) {
        missingGroups.add(id);
        if (listedBy) unresolved.push({ groupId: listedBy, reference: `Group/${id}` });
        continue;
      }
      const members = (JSON.parse(group) as { member?: GroupMember[] }).member ?? [];
      for (const member of members) {
        if (member.inactive || !inPeriod(member.period, at)) continue;
        const reference = member.entity?.reference ?? '';
        const target = parseLocalReference(reference);
        if (target?.type === 'Patient') {
          if (!patients.has(target.id)) patients.set(target.id, id);
        } else if (target?.type === 'Group') {
          pending.push({ id: target.id, listedBy: id });
        } else if (!target) {
          unresolved.push({ groupId: id, reference: reference || '(no literal reference)' });
        }
      }
    }
    const existing = await this.reads.existingIds('Patient', [...patients.keys()], at);
    for (const [patientId, listedBy] of patients) {
      if (!existing.has(patientId)) {
        unresolved.push({ groupId: listedBy, reference: `Patient/${patientId}` });
      }
    }
    return {
      patientIds: [...existing].sort(),
      groupIds: [...seen].filter((g) => !missingGroups.has(g)).sort(),
      unresolved,
    };
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
