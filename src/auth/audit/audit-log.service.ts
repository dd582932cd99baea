import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditEventEntity } from './audit-event.entity';

/** What is audited: the token endpoint's answers and every call on an export. */
export const AUDIT_ACTIONS = [
  'token.issued',
  'token.refused',
  'export.kickoff',
  'export.status',
  'export.cancel',
  'export.download',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** An event to record. Ids, resource type names and our own messages only: never PHI. */
export interface AuditEvent {
  action: AuditAction;
  /** The authenticated client, or the one a refused token request claimed to be. */
  clientId: string | null;
  /** The export, when the request named one; anything but a UUID is recorded as null. */
  exportId?: string | null;
  /** Resource types the request named. */
  types?: readonly string[];
  /** The HTTP status answered. */
  outcome: number;
  /** Why, in our own words (truncated to {@link DETAIL_MAX} characters). */
  detail?: string;
  remoteAddress?: string | null;
}

/** A recorded event as the operator endpoint and the log line show it. */
export interface AuditEventView {
  /** bigint, as a string; also the `before` cursor of the next page. */
  id: string;
  at: string;
  action: AuditAction;
  client_id: string | null;
  export_id: string | null;
  types: string[] | null;
  outcome: number;
  detail: string | null;
  remote_address: string | null;
}

export interface AuditFilter {
  clientId?: string;
  action?: AuditAction;
  exportId?: string;
  /** Events at or after this instant. */
  since?: Date;
  /** Id cursor (bigint in digits): events older than this one. */
  before?: string;
  limit: number;
}

/** Page size of {@link AuditLog.list} unless asked otherwise, and the most it gives. */
export const AUDIT_PAGE_DEFAULT = 100;
export const AUDIT_PAGE_MAX = 1000;

export const DETAIL_MAX = 500;
// A refused token request's client id comes from an assertion nobody has verified.
const CLIENT_ID_MAX = 255;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a UUID in its canonical hyphenated form. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * The audit log of SMART Backend Services authorization: each event becomes a row of the
 * append-only `audit_event` table and a structured log line (`{ audit: {...} }`, message
 * `audit`) for the log pipeline.
 */
@Injectable()
export class AuditLog {
  private readonly logger = new Logger(AuditLog.name);

  constructor(
    @InjectRepository(AuditEventEntity) private readonly events: Repository<AuditEventEntity>,
  ) {}

  /**
   * Writes the row and a structured log line; never throws (a failure is logged at error level
   * with the event).
   */
  async record(event: AuditEvent): Promise<void> {
    const row = {
      action: event.action,
      client_id: event.clientId === null ? null : event.clientId.slice(0, CLIENT_ID_MAX),
      export_id: event.exportId && isUuid(event.exportId) ? event.exportId.toLowerCase() : null,
      types: event.types ? [...event.types] : null,
      outcome: event.outcome,
      detail: event.detail === undefined ? null : event.detail.slice(0, DETAIL_MAX),
      remote_address: event.remoteAddress ?? null,
    };
    try {
      const [inserted] = await this.events.query<{ id: string; at: Date }[]>(
        `INSERT INTO audit_event (action, client_id, export_id, types, outcome, detail, remote_address)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, at`,
        [
          row.action,
          row.client_id,
          row.export_id,
          row.types,
          row.outcome,
          row.detail,
          row.remote_address,
        ],
      );
      const audit: AuditEventView = { id: inserted.id, at: inserted.at.toISOString(), ...row };
      this.logger.log({ audit }, 'audit');
    } catch (error) {
      // The caller is answering a client: losing the row must not change that answer, and the
      // line below keeps the event in the log.
      this.logger.error({ err: error, audit: row }, 'audit event not recorded');
    }
  }

  /** Newest first, filtered; for the operator endpoint. */
  async list(filter: AuditFilter): Promise<AuditEventView[]> {
    const query = this.events.createQueryBuilder('e').orderBy('e.id', 'DESC').limit(filter.limit);
    if (filter.clientId !== undefined) {
      query.andWhere('e.clientId = :clientId', { clientId: filter.clientId });
    }
    if (filter.action !== undefined)
      query.andWhere('e.action = :action', { action: filter.action });
    if (filter.exportId !== undefined) {
      if (!isUuid(filter.exportId)) return [];
      query.andWhere('e.exportId = :exportId', { exportId: filter.exportId });
    }
    if (filter.since !== undefined) query.andWhere('e.at >= :since', { since: filter.since });
    if (filter.before !== undefined) query.andWhere('e.id < :before', { before: filter.before });
    const rows = await query.getMany();
    return rows.map(toView);
  }
}

function toView(row: AuditEventEntity): AuditEventView {
  return {
    id: row.id,
    at: row.at.toISOString(),
    action: row.action as AuditAction,
    client_id: row.clientId,
    export_id: row.exportId,
    types: row.types,
    outcome: row.outcome,
    detail: row.detail,
    remote_address: row.remoteAddress,
  };
}
