import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { dependencyUnavailable } from '../../common/dependency-unavailable';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { withTimeout } from '../../common/with-timeout';
import { AppConfig } from '../../config/app-config';
import { operationOutcome, OperationOutcome } from '../../common/operation-outcome';
import { ExportRequest, normalizedRequestKey } from '../export-request';
import { EXPORT_QUEUE, ExportQueuePayload } from '../export-queue';
import { defaultContainerName, folderPrefix } from '../storage/export-sink';
import {
  ExportAnonymization,
  ExportCheckpoint,
  ExportedFile,
  ExportJobEntity,
  ExportProgress,
} from './export-job.entity';

/** How often an export whose queue entry ended without it is handed out again before it fails. */
const MAX_REQUEUES = 3;

export interface KickOff {
  request: ExportRequest;
  requestUrl: string;
  /** The client id; identical kick-offs are joined only within one owner. */
  owner: string;
  /** Unfinished exports the owner may have at once; null: no limit. */
  maxConcurrent: number | null;
  /** For an anonymized export: what it runs with. */
  anonymization?: ExportAnonymization;
}

/** Retry-After of a kick-off refused for the owner's concurrency limit. */
const LIMIT_RETRY_AFTER_SECONDS = 30;

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
    private readonly config: AppConfig,
  ) {
    // Without a listener, a Redis connection error would be an unhandled 'error' event.
    this.queue.on('error', (error) => this.logger.warn({ err: error }, 'export queue error'));
  }

  /**
   * Creates and enqueues a job, or returns the active job of the same client with the same
   * normalized request (the unique index makes this race-free). A new job beyond the owner's
   * `maxConcurrent` unfinished ones is refused with 429; joining one is not.
   */
  async kickOff(kickOff: KickOff): Promise<{ id: string; created: boolean }> {
    const requestKey = normalizedRequestKey(kickOff.request);
    for (let attempt = 0; attempt < 5; attempt++) {
      const { transactionTime, snapshot } = await this.exportClock();
      const id = randomUUID();
      const outcome = await this.dataSource.transaction((manager) =>
        this.insertOrJoin(manager, kickOff, { id, requestKey, transactionTime, snapshot }),
      );
      if (outcome.created) await this.enqueue(id);
      // Undefined: the active job finished between our INSERT and SELECT; try again.
      if (outcome.id) return { id: outcome.id, created: outcome.created };
    }
    throw new FhirException(FhirErrorCode.Unavailable, 'Could not start the export; try again');
  }

  private async insertOrJoin(
    manager: EntityManager,
    { request, requestUrl, owner, maxConcurrent, anonymization }: KickOff,
    job: { id: string; requestKey: string; transactionTime: Date; snapshot: string },
  ): Promise<{ id?: string; created: boolean }> {
    const active = () =>
      manager.query<{ id: string }[]>(
        `SELECT id FROM export_job
         WHERE owner = $1 AND request_key = $2 AND status IN ('queued', 'running')`,
        [owner, job.requestKey],
      );
    if (maxConcurrent !== null) {
      // One kick-off of an owner at a time decides, so two cannot both take the last slot.
      await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
        `export-kickoff:${owner}`,
      ]);
      const [joined] = await active();
      if (joined) return { id: joined.id, created: false };
      const [{ unfinished }] = await manager.query<{ unfinished: number }[]>(
        `SELECT count(*)::int AS unfinished FROM export_job
         WHERE owner = $1 AND status IN ('queued', 'running')`,
        [owner],
      );
      if (unfinished >= maxConcurrent) {
        throw new FhirException(
          FhirErrorCode.TooManyRequests,
          `Client ${owner} already has ${unfinished} unfinished exports, its limit; ` +
            `wait for one to complete or cancel one, then try again`,
          { headers: { 'Retry-After': String(LIMIT_RETRY_AFTER_SECONDS) } },
        );
      }
    }
    const location = request.container
      ? { container: request.container, prefix: folderPrefix(job.id, job.transactionTime) }
      : { container: defaultContainerName(job.id, job.transactionTime), prefix: '' };
    const inserted = await manager.query<{ id: string }[]>(
      `INSERT INTO export_job (id, level, group_id, request, request_key, request_url, owner,
                               transaction_time, snapshot, status, location, anonymization)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $11)
       ON CONFLICT (owner, request_key) WHERE status IN ('queued', 'running') DO NOTHING
       RETURNING id`,
      [
        job.id,
        request.level,
        request.groupId ?? null,
        JSON.stringify(request),
        job.requestKey,
        requestUrl,
        owner,
        job.transactionTime,
        job.snapshot,
        JSON.stringify(location),
        anonymization ? JSON.stringify(anonymization) : null,
      ],
    );
    if (inserted.length) return { id: job.id, created: true };
    const [joined] = await active();
    return { id: joined?.id, created: false };
  }

  /**
   * The export's snapshot instant. Writes take their transaction id before reading the clock
   * (fhir_write_clock), so every write stamped at or before the returned time has an xid
   * assigned before the clock was read here; the worker waits until all of those have ended.
   * Truncating to whole milliseconds and stepping back one keeps that true for the millisecond
   * precision that lastUpdated has.
   *
   * A snapshot lists as in progress only xids below its xmax, and xmax is one past the newest
   * *completed* xid: a write whose xid is newer than every finished transaction is missing
   * from the list although it is running. Committing a transaction with an xid of our own
   * between the clock and the snapshot lifts xmax above every xid assigned before the clock,
   * so all of them that still run are listed.
   */
  private async exportClock(): Promise<{ transactionTime: Date; snapshot: string }> {
    const [clock] = await this.dataSource.query<{ t: Date }[]>(
      `SELECT date_trunc('milliseconds', clock_timestamp()) - interval '1 millisecond' AS t`,
    );
    await this.dataSource.query('SELECT pg_current_xact_id()');
    const [snap] = await this.dataSource.query<{ s: string }[]>(
      'SELECT pg_current_snapshot()::text AS s',
    );
    return { transactionTime: clock.t, snapshot: snap.s };
  }

  private async enqueue(id: string): Promise<void> {
    try {
      // While Redis is down the client queues commands until it reconnects: bound the wait.
      await withTimeout(
        this.queue.add('export', { exportId: id }, { jobId: id }),
        this.config.DEPENDENCY_TIMEOUT_MS,
        'adding the export to the job queue',
      );
    } catch (error) {
      this.logger.error({ err: error, exportId: id }, 'could not enqueue export');
      const unavailable = dependencyUnavailable('job queue');
      // The row must not stay queued with no queue entry: nothing would ever run it.
      await this.fail(id, unavailable.outcome);
      throw unavailable;
    }
  }

  /**
   * Keeps every unfinished export moving; each worker runs it every EXPORT_REQUEUE_INTERVAL_MS.
   * - No queue entry (an API process that died between insert and add, a flushed Redis): added
   *   again. Adding an id BullMQ holds is a no-op, so workers sweeping together cannot collide.
   * - A queue entry that ended while the row did not (a worker that died or lost PostgreSQL
   *   before its row could say so): handed out again, up to {@link MAX_REQUEUES} times, then
   *   the export fails saying so.
   * - Running under a live lock but untouched for EXPORT_STALE_MS (a worker hung in a call that
   *   never returns): failed with the reason, which fences the hung run off.
   */
  async sweepUnfinished(): Promise<{ added: number; requeued: number; failed: number }> {
    const unfinished = await this.dataSource.query<
      { id: string; status: ExportJobEntity['status']; idleMs: number }[]
    >(
      `SELECT id, status, (extract(epoch FROM now() - updated_at) * 1000)::float8 AS "idleMs"
       FROM export_job WHERE status IN ('queued', 'running')`,
    );
    const swept = { added: 0, requeued: 0, failed: 0 };
    for (const row of unfinished) {
      try {
        const outcome = await this.sweepOne(row);
        if (outcome) swept[outcome] += 1;
      } catch (error) {
        // Another worker's sweep or run moved the entry meanwhile: the next sweep looks again.
        this.logger.warn({ err: error, exportId: row.id }, 'could not sweep an unfinished export');
      }
    }
    return swept;
  }

  private async sweepOne(row: {
    id: string;
    status: ExportJobEntity['status'];
    idleMs: number;
  }): Promise<'added' | 'requeued' | 'failed' | undefined> {
    const entry = await this.queue.getJob(row.id);
    if (!entry) {
      await this.queue.add('export', { exportId: row.id }, { jobId: row.id });
      return 'added';
    }
    const state = await entry.getState();
    if (state === 'completed' || state === 'failed') {
      // The worker that ended it may still be writing the row: give it a lock period.
      if (Date.now() - (entry.finishedOn ?? 0) < this.config.EXPORT_LOCK_MS) return undefined;
      const requeues = (entry.data.requeues ?? 0) + 1;
      if (requeues > MAX_REQUEUES) {
        const reason = `The export ended ${MAX_REQUEUES + 1} times without finishing; start it again`;
        return (await this.fail(row.id, operationOutcome('error', 'exception', reason)))
          ? 'failed'
          : undefined;
      }
      await entry.remove();
      await this.queue.add('export', { exportId: row.id, requeues }, { jobId: row.id });
      return 'requeued';
    }
    if (state !== 'active') return undefined;
    // Idle since the row was last touched or the entry was taken, whichever came later: a job
    // that waited long in the queue is not stale the moment a worker takes it.
    const idleMs = Math.min(row.idleMs, Date.now() - (entry.processedOn ?? 0));
    if (idleMs < this.config.EXPORT_STALE_MS) return undefined;
    const idle =
      idleMs >= 120_000 ? `${Math.round(idleMs / 60_000)} min` : `${Math.round(idleMs / 1000)} s`;
    const reason = `The export stopped making progress: its worker has not touched it for ${idle}; start it again`;
    // Fenced on the row still being idle, so a run that touched it meanwhile goes on.
    const result = await this.dataSource.query<unknown[]>(
      `UPDATE export_job SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
       WHERE id = $1 AND status IN ('queued', 'running')
         AND updated_at <= now() - make_interval(secs => $3::float8 / 1000)
       RETURNING id`,
      [
        row.id,
        JSON.stringify(operationOutcome('error', 'exception', reason)),
        this.config.EXPORT_STALE_MS,
      ],
    );
    if (this.affected(result) === 0) return undefined;
    await entry.log(reason).catch(() => undefined);
    return 'failed';
  }

  /**
   * Whether every transaction that was in flight when the job's snapshot was taken has
   * ended; until then a write stamped before transaction_time may still commit.
   */
  async snapshotSettled(snapshot: string): Promise<boolean> {
    const [row] = await this.dataSource.query<{ open: number }[]>(
      `SELECT count(*)::int AS open FROM pg_snapshot_xip($1::pg_snapshot) AS x
       WHERE pg_xact_status(x) = 'in progress'`,
      [snapshot],
    );
    return row.open === 0;
  }

  find(id: string): Promise<ExportJobEntity | null> {
    return this.jobs.findOne({ where: { id } });
  }

  /**
   * Claims a queued or running job for a new run (queued → running) and returns the checkpoint
   * to resume from, read in the same statement. The claim fences off every earlier run: a
   * worker BullMQ took for dead while it was only stalled can no longer save a checkpoint or
   * finish the job. Null when the job is gone, cancelled or finished.
   */
  async claim(id: string): Promise<{ runId: string; checkpoint: ExportCheckpoint } | null> {
    const runId = randomUUID();
    const result = await this.dataSource.query<unknown[]>(
      `UPDATE export_job
          SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now(),
              checkpoint = checkpoint || jsonb_build_object('runId', $2::text)
        WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING checkpoint`,
      [id, runId],
    );
    const [row] = this.rows<{ checkpoint: ExportCheckpoint }>(result);
    return row ? { runId, checkpoint: row.checkpoint } : null;
  }

  /**
   * Whether run `runId` may go on: 'owned' while the job runs under its claim, 'cancelled' once
   * the client cancelled it, 'lost' when another run claimed it or it ended otherwise.
   */
  async runState(id: string, runId: string): Promise<'owned' | 'cancelled' | 'lost'> {
    const [row] = await this.dataSource.query<
      { status: ExportJobEntity['status']; run: string | null }[]
    >(`SELECT status, checkpoint->>'runId' AS run FROM export_job WHERE id = $1`, [id]);
    if (!row || row.status === 'cancelled') return 'cancelled';
    return row.status === 'running' && row.run === runId ? 'owned' : 'lost';
  }

  /** The checkpoint to resume from while run `runId` still holds the claim; null otherwise. */
  async ownedCheckpoint(id: string, runId: string): Promise<ExportCheckpoint | null> {
    const [row] = await this.dataSource.query<{ checkpoint: ExportCheckpoint }[]>(
      `SELECT checkpoint FROM export_job
       WHERE id = $1 AND status = 'running' AND checkpoint->>'runId' = $2`,
      [id, runId],
    );
    return row?.checkpoint ?? null;
  }

  /** Saves progress under run `runId`'s claim; false when the run may not go on (see runState). */
  async saveCheckpoint(
    id: string,
    runId: string,
    checkpoint: ExportCheckpoint,
    progress: ExportProgress,
  ): Promise<boolean> {
    const result = await this.dataSource.query<unknown[]>(
      `UPDATE export_job SET checkpoint = $2, progress = $3, updated_at = now()
       WHERE id = $1 AND status = 'running' AND checkpoint->>'runId' = $4 RETURNING id`,
      [id, JSON.stringify({ ...checkpoint, runId }), JSON.stringify(progress), runId],
    );
    return this.affected(result) > 0;
  }

  /** Saves progress while run `runId` holds the claim. */
  async saveProgress(id: string, runId: string, progress: ExportProgress): Promise<void> {
    await this.dataSource.query(
      `UPDATE export_job SET progress = $2, updated_at = now()
       WHERE id = $1 AND checkpoint->>'runId' = $3`,
      [id, JSON.stringify(progress), runId],
    );
  }

  /** Completes the job under run `runId`'s claim; false when the run may not go on. */
  async complete(
    id: string,
    runId: string,
    manifest: { output: ExportedFile[]; error: ExportedFile[] },
  ): Promise<boolean> {
    const result = await this.dataSource.query<unknown[]>(
      `UPDATE export_job SET status = 'completed', manifest = $2, finished_at = now(), updated_at = now(),
              progress = progress || '{"phase":"finishing"}'
       WHERE id = $1 AND status = 'running' AND checkpoint->>'runId' = $3 RETURNING id`,
      [id, JSON.stringify(manifest), runId],
    );
    return this.affected(result) > 0;
  }

  /**
   * Fails a job that is still queued or running. With `runId`, only while that run holds the
   * claim, so a fenced-off run cannot fail the job its successor is running.
   */
  async fail(id: string, outcome: OperationOutcome, runId?: string): Promise<boolean> {
    const result = await this.dataSource.query<unknown[]>(
      `UPDATE export_job SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
       WHERE id = $1 AND status IN ('queued', 'running')
         AND ($3::text IS NULL OR checkpoint->>'runId' = $3)
       RETURNING id`,
      [id, JSON.stringify(outcome), runId ?? null],
    );
    return this.affected(result) > 0;
  }

  /**
   * Marks the job cancelled (completed jobs too: the client is done with the files).
   * Returns the job as it was, or null when it is unknown, another owner's or already cancelled.
   */
  async cancel(id: string, owner: string): Promise<ExportJobEntity | null> {
    const job = await this.find(id);
    if (!job || job.status === 'cancelled' || job.owner !== owner) return null;
    const result = await this.dataSource.query<unknown[]>(
      `UPDATE export_job SET status = 'cancelled', finished_at = coalesce(finished_at, now()), updated_at = now()
       WHERE id = $1 AND owner = $2 AND status <> 'cancelled' RETURNING id`,
      [id, owner],
    );
    if (this.affected(result) === 0) return null;
    await this.queue.remove(id).catch(() => 0); // an active job is locked: the runner stops itself
    return job;
  }

  /** TypeORM returns `[rows, count]` for UPDATE ... RETURNING on PostgreSQL. */
  private affected(result: unknown[]): number {
    return this.rows(result).length;
  }

  private rows<T>(result: unknown[]): T[] {
    if (result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
      return result[0] as T[];
    }
    return result as T[];
  }
}
