import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource, In, Repository } from 'typeorm';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { OperationOutcome } from '../../common/operation-outcome';
import { ExportRequest, normalizedRequestKey } from '../export-request';
import { EXPORT_QUEUE, ExportQueuePayload } from '../export-queue';
import { defaultContainerName, folderPrefix } from '../storage/export-sink';
import {
  ExportCheckpoint,
  ExportedFile,
  ExportJobEntity,
  ExportJobLocation,
  ExportProgress,
} from './export-job.entity';

export interface KickOff {
  request: ExportRequest;
  requestUrl: string;
  owner: string;
}

/**
 * Lifecycle of export jobs in the `export_job` table (the truth for status and cancel)
 * and their BullMQ jobs.
 */
@Injectable()
export class ExportJobService {
  private readonly logger = new Logger(ExportJobService.name);

  constructor(
    @InjectRepository(ExportJobEntity) private readonly jobs: Repository<ExportJobEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(EXPORT_QUEUE) private readonly queue: Queue<ExportQueuePayload>,
  ) {}

  /**
   * Creates and enqueues a job, or returns the active job of the same client with the same
   * normalized request (the unique index makes this race-free).
   */
  async kickOff({ request, requestUrl, owner }: KickOff): Promise<{ id: string; created: boolean }> {
    const requestKey = normalizedRequestKey(request);
    for (let attempt = 0; attempt < 5; attempt++) {
      const { transactionTime, snapshot } = await this.exportClock();
      const id = randomUUID();
      const location = request.container
        ? { container: request.container, prefix: folderPrefix(id, transactionTime) }
        : { container: defaultContainerName(id, transactionTime), prefix: '' };
      const inserted = (await this.dataSource.query(
        `INSERT INTO export_job (id, level, group_id, request, request_key, request_url, owner,
                                 transaction_time, snapshot, status, location)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10)
         ON CONFLICT (owner, request_key) WHERE status IN ('queued', 'running') DO NOTHING
         RETURNING id`,
        [
          id,
          request.level,
          request.groupId ?? null,
          JSON.stringify(request),
          requestKey,
          requestUrl,
          owner,
          transactionTime,
          snapshot,
          JSON.stringify(location),
        ],
      )) as { id: string }[];
      if (inserted.length) {
        await this.enqueue(id);
        return { id, created: true };
      }
      const active = await this.jobs.findOne({
        where: { owner, requestKey, status: In(['queued', 'running']) },
        select: { id: true },
      });
      // The active job may have finished between our INSERT and SELECT: try again.
      if (active) return { id: active.id, created: false };
    }
    throw new FhirException(FhirErrorCode.Unavailable, 'Could not start the export; try again');
  }

  /**
   * The export's snapshot instant. Writes take their transaction id before reading the clock
   * (fhir_write_clock), so every write stamped at or before the returned time is either
   * committed or listed in the snapshot taken afterwards; the worker waits for those before
   * reading. Truncating to whole milliseconds and stepping back one keeps that true for the
   * millisecond precision that lastUpdated has.
   */
  private async exportClock(): Promise<{ transactionTime: Date; snapshot: string }> {
    const [clock] = (await this.dataSource.query(
      `SELECT date_trunc('milliseconds', clock_timestamp()) - interval '1 millisecond' AS t`,
    )) as { t: Date }[];
    const [snap] = (await this.dataSource.query(
      'SELECT pg_current_snapshot()::text AS s',
    )) as { s: string }[];
    return { transactionTime: clock.t, snapshot: snap.s };
  }

  private async enqueue(id: string): Promise<void> {
    try {
      await this.queue.add('export', { exportId: id }, { jobId: id });
    } catch (error) {
      await this.fail(id, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'transient', diagnostics: 'The job queue is unavailable' }],
      });
      this.logger.error({ err: error, exportId: id }, 'could not enqueue export');
      throw new FhirException(FhirErrorCode.Unavailable, 'The job queue is unavailable; try again later', {
        headers: { 'Retry-After': '30' },
      });
    }
  }

  /** Re-enqueues queued jobs whose BullMQ job may have been lost (adding an existing id is a no-op). */
  async requeueQueued(): Promise<number> {
    const queued = await this.jobs.find({ where: { status: 'queued' }, select: { id: true } });
    for (const job of queued) await this.queue.add('export', { exportId: job.id }, { jobId: job.id });
    return queued.length;
  }

  /**
   * Whether every transaction that was in flight when the job's snapshot was taken has
   * ended; until then a write stamped before transaction_time may still commit.
   */
  async snapshotSettled(snapshot: string): Promise<boolean> {
    const [row] = (await this.dataSource.query(
      `SELECT count(*)::int AS open FROM pg_snapshot_xip($1::pg_snapshot) AS x
       WHERE pg_xact_status(x) = 'in progress'`,
      [snapshot],
    )) as { open: number }[];
    return row.open === 0;
  }

  find(id: string): Promise<ExportJobEntity | null> {
    return this.jobs.findOne({ where: { id } });
  }

  async status(id: string): Promise<ExportJobEntity['status'] | null> {
    const job = await this.jobs.findOne({ where: { id }, select: { status: true } });
    return job?.status ?? null;
  }

  /** queued → running; false when the job is no longer queued or running (cancelled, finished). */
  async start(id: string): Promise<boolean> {
    const result = (await this.dataSource.query(
      `UPDATE export_job SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now()
       WHERE id = $1 AND status IN ('queued', 'running') RETURNING id`,
      [id],
    )) as unknown[];
    return this.affected(result) > 0;
  }

  /** Saves progress; false when the job was cancelled meanwhile (the runner then stops). */
  async saveCheckpoint(
    id: string,
    checkpoint: ExportCheckpoint,
    progress: ExportProgress,
  ): Promise<boolean> {
    const result = (await this.dataSource.query(
      `UPDATE export_job SET checkpoint = $2, progress = $3, updated_at = now()
       WHERE id = $1 AND status = 'running' RETURNING id`,
      [id, JSON.stringify(checkpoint), JSON.stringify(progress)],
    )) as unknown[];
    return this.affected(result) > 0;
  }

  async saveProgress(id: string, progress: ExportProgress): Promise<void> {
    await this.dataSource.query(
      `UPDATE export_job SET progress = $2, updated_at = now() WHERE id = $1`,
      [id, JSON.stringify(progress)],
    );
  }

  async complete(
    id: string,
    manifest: { output: ExportedFile[]; error: ExportedFile[] },
  ): Promise<boolean> {
    const result = (await this.dataSource.query(
      `UPDATE export_job SET status = 'completed', manifest = $2, finished_at = now(), updated_at = now(),
              progress = progress || '{"phase":"finishing"}'
       WHERE id = $1 AND status = 'running' RETURNING id`,
      [id, JSON.stringify(manifest)],
    )) as unknown[];
    return this.affected(result) > 0;
  }

  async fail(id: string, outcome: OperationOutcome): Promise<void> {
    await this.dataSource.query(
      `UPDATE export_job SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
       WHERE id = $1 AND status IN ('queued', 'running')`,
      [id, JSON.stringify(outcome)],
    );
  }

  /**
   * Marks the job cancelled (completed jobs too: the client is done with the files).
   * Returns the job as it was, or null when it is unknown or already cancelled.
   */
  async cancel(id: string): Promise<ExportJobEntity | null> {
    const job = await this.find(id);
    if (!job || job.status === 'cancelled') return null;
    const result = (await this.dataSource.query(
      `UPDATE export_job SET status = 'cancelled', finished_at = coalesce(finished_at, now()), updated_at = now()
       WHERE id = $1 AND status <> 'cancelled' RETURNING id`,
      [id],
    )) as unknown[];
    if (this.affected(result) === 0) return null;
    await this.queue.remove(id).catch(() => 0); // an active job is locked: the runner stops itself
    return job;
  }

  /** TypeORM returns `[rows, count]` for UPDATE ... RETURNING on PostgreSQL. */
  private affected(result: unknown[]): number {
    if (result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
      return result[1];
    }
    return result.length;
  }

}
