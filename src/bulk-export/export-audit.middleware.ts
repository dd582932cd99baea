import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { principalOf } from '../auth/access/principal';
import { auditNotes } from '../auth/audit/audit-context';
import { AuditAction, AuditLog } from '../auth/audit/audit-log.service';

const KICKOFF = /\/(\$|%24)export$/i;
const STATUS = /^\/_operations\/export\/([^/]+)$/;
const FILE = /^\/_operations\/export\/([^/]+)\/[^/]+$/;

/** Which audited `$export` call a request is, if any. */
function auditActionOf(req: Request): AuditAction | undefined {
  const path = req.path.replace(/\/+$/, '');
  if (KICKOFF.test(path) && (req.method === 'GET' || req.method === 'POST')) {
    return 'export.kickoff';
  }
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (STATUS.test(path)) {
    if (read) return 'export.status';
    if (req.method === 'DELETE') return 'export.cancel';
  }
  if (FILE.test(path) && read) return 'export.download';
  return undefined;
}

/**
 * Audits every kick-off, status read, cancel and file download, whatever it answers (refusals
 * by the bearer guard included), once the response is sent. It runs before any route, so a
 * request that several routes look at is recorded once.
 */
@Injectable()
export class ExportAuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AuditLog) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const action = auditActionOf(req);
    if (action) {
      const path = req.path.replace(/\/+$/, '');
      const exportId = (STATUS.exec(path) ?? FILE.exec(path))?.[1];
      res.once('finish', () => {
        const notes = auditNotes(req);
        void this.audit.record({
          action,
          clientId: principalOf(req)?.clientId ?? null,
          exportId: notes.exportId ?? exportId ?? null,
          types: notes.types,
          outcome: res.statusCode,
          detail: notes.detail,
          remoteAddress: req.ip ?? null,
        });
      });
    }
    next();
  }
}
