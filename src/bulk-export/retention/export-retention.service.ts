import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { ExportLocation, ExportSink } from '../storage/export-sink';

/** Expired jobs read per query. */
export const RETENTION_BATCH_SIZE = 100;

/** Batches one run handles at most; what is left waits for the next run. */
export const RETENTION_MAX_BATCHES = 20;

/**
 * Deletions that may fail in a row before a run gives up: storage is most likely unavailable,
 * and each further attempt would wait through the storage client's retries.
 */
export const RETENTION_MAX_FAILURES_IN_A_ROW = 3;

/** The statuses of an export that will not change any more, so it can expire. */
const FINISHED = `('completed', 'failed', 'cancelled')`;

/** What one run of the purge did. */
export interface RetentionRun {
  /** Exports whose files and row were deleted. */
  purged: number;
  /** Expired exports whose files could not be deleted; their rows stay for the next run. */
  failed: number;
  /** Whether the run stopped before it had seen every expired export (bound, failures, shutdown). */
  stoppedEarly: boolean;
}

interface ExpiredJob {
  id: string;
  location: ExportLocation;
}

/**
 * Retention of finished exports (Bulk Data IG: the server may remove output files after the
 * time it gives in the complete-status response's `Expires` header): deletes the files, then
 * the row, of every completed, failed or cancelled export whose `finished_at` is more than
 * EXPORT_RETENTION_HOURS ago. ExportRetentionProcessor runs it for each scheduled job.
 *
 * Runs may overlap (a run longer than the sweep interval) without harm: deleting files is
 * idempotent and the row is deleted only while it is still expired.
 */
@Injectable()
export class ExportRetentionService {
  private readonly logger = new Logger(ExportRetentionService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly sink: ExportSink,
    private readonly config: AppConfig,
  ) {}

  /**
   * One purge run, in batches of {@link RETENTION_BATCH_SIZE}. An export whose files cannot be
   * deleted keeps its row (logged with its id) and is tried again by the next run. A database
   * error ends the run with that error. `stopping` is asked between exports (worker shutdown).
   */
  async purgeExpired(stopping: () => boolean = () => false): Promise<RetentionRun> {
    const run: RetentionRun = { purged: 0, failed: 0, stoppedEarly: false };
    // Expired jobs this run already tried: those it could not purge are not selected again.
    const tried: string[] = [];
    let failuresInARow = 0;
    for (let batch = 0; batch < RETENTION_MAX_BATCHES; batch++) {
      const jobs = await this.expired(tried);
      for (const job of jobs) {
        if (stopping()) return { ...run, stoppedEarly: true };
        tried.push(job.id);
        switch (await this.purge(job)) {
          case 'purged':
            run.purged += 1;
            failuresInARow = 0;
            break;
          case 'files-kept':
            run.failed += 1;
            failuresInARow += 1;
            break;
          case 'gone':
            break;
        }
        if (failuresInARow >= RETENTION_MAX_FAILURES_IN_A_ROW)
          return { ...run, stoppedEarly: true };
      }
      if (jobs.length < RETENTION_BATCH_SIZE) return run;
    }
    return { ...run, stoppedEarly: true };
  }

  /** The oldest expired exports, except those in `skip`. */
  private async expired(skip: string[]): Promise<ExpiredJob[]> {
    return this.dataSource.query<ExpiredJob[]>(
      `SELECT id, location FROM export_job
        WHERE status IN ${FINISHED}
          AND finished_at < now() - $1::float8 * interval '1 hour'
          AND NOT (id = ANY($2::uuid[]))
        ORDER BY finished_at, id
        LIMIT $3`,
      [this.config.EXPORT_RETENTION_HOURS, skip, RETENTION_BATCH_SIZE],
    );
  }

  /**
   * Deletes the job's files, then its row if it is still expired: 'purged'; 'files-kept' when
   * the files could not be deleted (the row stays: it is what lets the next run find them);
   * 'gone' when the row was no longer there to delete (an overlapping run purged it).
   */
  private async purge(job: ExpiredJob): Promise<'purged' | 'files-kept' | 'gone'> {
    try {
      await this.sink.deleteAll(job.location);
    } catch (error) {
      this.logger.warn(
        { err: error, exportId: job.id },
        'could not delete the files of an expired export; the next purge tries again',
      );
      return 'files-kept';
    }
    const deleted = await this.dataSource.query<unknown[]>(
      `DELETE FROM export_job
        WHERE id = $1 AND status IN ${FINISHED}
          AND finished_at < now() - $2::float8 * interval '1 hour'
        RETURNING id`,
      [job.id, this.config.EXPORT_RETENTION_HOURS],
    );
    return rowsOf(deleted).length > 0 ? 'purged' : 'gone';
  }
}

/** TypeORM returns `[rows, count]` for DELETE ... RETURNING on PostgreSQL. */
function rowsOf(result: unknown[]): unknown[] {
  if (result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as unknown[];
  }
  return result;
}
