/**
 * The BullMQ queue of the export's housekeeping, separate from the export queue so that a
 * backlog of exports never delays it (and it never holds an export slot). Only workers
 * process it.
 */
export const EXPORT_MAINTENANCE_QUEUE = 'export-maintenance';

/** The job scheduler that adds one purge job per EXPORT_RETENTION_SWEEP_MS across all workers. */
export const RETENTION_SCHEDULER_ID = 'export-retention';

/** Name of the jobs {@link RETENTION_SCHEDULER_ID} adds. */
export const RETENTION_JOB_NAME = 'purge-expired-exports';
