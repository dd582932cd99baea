import { Controller, Get, Header, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { baseUrlOf } from '../../common/base-url';
import { FhirException } from '../../common/fhir-exception';
import { AppConfig } from '../../config/app-config';
import { OperatorOnly } from '../access/access.decorators';
import { ApiListAuditEvents } from './audit-api.decorators';
import {
  AUDIT_ACTIONS,
  AUDIT_PAGE_DEFAULT,
  AUDIT_PAGE_MAX,
  AuditAction,
  AuditEventView,
  AuditFilter,
  AuditLog,
  isUuid,
} from './audit-log.service';

/** A page of the audit log; `next` when the page is full and older events may follow. */
export interface AuditPage {
  events: AuditEventView[];
  next?: string;
}

const AUDIT_PATH = 'admin/audit';

/**
 * The audit log for operators (HTTP Basic, ADMIN_CREDENTIALS): tokens issued and refused and
 * every export call, newest first, paged by id.
 */
@Controller(AUDIT_PATH)
@OperatorOnly()
export class AuditController {
  constructor(
    private readonly audit: AuditLog,
    private readonly config: AppConfig,
  ) {}

  /** Filters by `client_id`, `action`, `export_id` and `since`; pages with `_count` and `before`. */
  @Get()
  @Header('Cache-Control', 'no-store')
  @ApiListAuditEvents()
  async list(@Query() query: Record<string, unknown>, @Req() req: Request): Promise<AuditPage> {
    const filter = parseAuditQuery(query);
    const events = await this.audit.list(filter);
    const last = events.at(-1);
    if (events.length < filter.limit || !last) return { events };
    const next = new URLSearchParams();
    for (const name of ['client_id', 'action', 'export_id', 'since'] as const) {
      const value = query[name];
      if (typeof value === 'string') next.set(name, value);
    }
    next.set('_count', String(filter.limit));
    next.set('before', last.id);
    return { events, next: `${baseUrlOf(req, this.config)}/${AUDIT_PATH}?${next.toString()}` };
  }
}

// A FHIR instant: seconds required, and a zone so that the instant is not the server's guess.
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BIGINT_MAX = 2n ** 63n - 1n;

function parseAuditQuery(query: Record<string, unknown>): AuditFilter {
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined || typeof value === 'string') return value;
    throw FhirException.badRequest(`${name} may be given once`, [name]);
  };
  const filter: AuditFilter = { limit: AUDIT_PAGE_DEFAULT };

  filter.clientId = single('client_id');

  const action = single('action');
  if (action !== undefined) {
    if (!(AUDIT_ACTIONS as readonly string[]).includes(action)) {
      throw FhirException.badRequest(
        `action must be one of ${AUDIT_ACTIONS.join(', ')}, got "${action}"`,
        ['action'],
      );
    }
    filter.action = action as AuditAction;
  }

  const exportId = single('export_id');
  if (exportId !== undefined) {
    if (!isUuid(exportId)) {
      throw FhirException.badRequest(`export_id must be a UUID, got "${exportId}"`, ['export_id']);
    }
    filter.exportId = exportId;
  }

  const since = single('since');
  if (since !== undefined) {
    const at = new Date(since);
    if (!INSTANT.test(since) || Number.isNaN(at.getTime())) {
      throw FhirException.badRequest(
        `since must be an instant such as 2025-01-31T12:00:00Z, got "${since}"`,
        ['since'],
      );
    }
    filter.since = at;
  }

  const before = single('before');
  if (before !== undefined) {
    if (!/^\d{1,19}$/.test(before) || BigInt(before) > BIGINT_MAX) {
      throw FhirException.badRequest(
        `before must be an event id (digits) from a previous page, got "${before}"`,
        ['before'],
      );
    }
    filter.before = before;
  }

  const count = single('_count');
  if (count !== undefined) {
    const limit = /^\d{1,4}$/.test(count) ? Number(count) : NaN;
    if (!(limit >= 1 && limit <= AUDIT_PAGE_MAX)) {
      throw FhirException.badRequest(
        `_count must be an integer from 1 to ${AUDIT_PAGE_MAX}, got "${count}"`,
        ['_count'],
      );
    }
    filter.limit = limit;
  }
  return filter;
}
