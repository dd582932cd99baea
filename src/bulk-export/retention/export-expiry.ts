const HOUR_MS = 60 * 60 * 1000;

/**
 * When a finished, failed or cancelled export expires: `finishedAt` plus EXPORT_RETENTION_HOURS.
 * From then on the retention purge may delete its files and row (its status then answers 404).
 */
export function exportExpiresAt(finishedAt: Date, retentionHours: number): Date {
  return new Date(finishedAt.getTime() + Math.round(retentionHours * HOUR_MS));
}
