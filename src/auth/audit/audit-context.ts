import type { Request } from 'express';

/** What a handler adds to its request's audit event: ids and type names only, never PHI. */
export interface AuditNotes {
  exportId?: string;
  types?: readonly string[];
  detail?: string;
}

type WithNotes = Request & { auditNotes?: AuditNotes };

/** The request's audit notes, for the handler to fill in. */
export function auditNotes(req: Request): AuditNotes {
  const withNotes = req as WithNotes;
  withNotes.auditNotes ??= {};
  return withNotes.auditNotes;
}
