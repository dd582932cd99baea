const EXPORT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a path segment can be an export id (a UUID), checked before it reaches a uuid column. */
export function isExportId(id: string): boolean {
  return EXPORT_ID.test(id);
}
