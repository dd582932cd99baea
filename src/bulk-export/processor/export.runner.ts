import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppConfig } from '../../config/app-config';
import { operationOutcome, OperationOutcome } from '../../common/operation-outcome';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { internalError } from '../../common/internal-error';
import { isDependencyUnavailable } from '../../common/dependency-unavailable';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { PatientCompartment } from '../../fhir/patient-compartment.service';
import { mapNdjsonLines, ndjsonFromRows } from '../read/copy-ndjson';
import {
  ExportPageQuery,
  ExportReadRepository,
  NdjsonPage,
  ProvenanceAssociation,
  ProvenancePageQuery,
} from '../read/export-read.repository';
import { GroupMembers } from '../read/group-members.service';
import { ExportJobService } from '../job/export-job.service';
import {
  ExportCheckpoint,
  ExportedFile,
  ExportJobEntity,
  ExportProgress,
  SkippedResource,
  TypeCheckpoint,
} from '../job/export-job.entity';
import {
  maxFileBytesFromMegabytes,
  RotatingNdjsonWriter,
  WriterCheckpoint,
} from '../ndjson/rotating-ndjson.writer';
import { ExportSink } from '../storage/export-sink';
import { ExportAnonymizers, JobAnonymizer } from '../anonymized/export-anonymizer';
import { ElementSelection, elementSelection, subsetResource } from './element-subset';

const MB = 1024 * 1024;
/** Rows of a type's first page, before its resources' size is known. */
const FIRST_PAGE_ROWS = 200;
const PROVENANCE = 'Provenance';

/** How often a run touches its row at least (progress for X-Progress, liveness for the stale sweep). */
const HEARTBEAT_MS = 5000;

/**
 * Thrown inside a run when it must stop: the client cancelled the job, another run claimed it,
 * or this worker is shutting down and hands the job back after its last checkpoint.
 */
class RunStopped extends Error {
  constructor(readonly reason: 'cancelled' | 'lost' | 'released') {
    super(`export run stopped: ${reason}`);
  }
}

/** One claim on a job: the job row plus the run id that fences off every other run. */
interface Run {
  job: ExportJobEntity;
  runId: string;
  checkpoint: ExportCheckpoint;
  progress: ExportProgress;
  /** Aborted when the worker shuts down: the run checkpoints and releases the job. */
  stop: AbortSignal;
  /** When the run last made progress durable (a saved checkpoint); restarts the retry window. */
  durableAt: number;
}

/**
 * How a run ended: `released` when the worker's shutdown handed the job back for another worker
 * to resume; `failed` when the run failed the job, with the reason it recorded.
 */
export type RunEnd = { end: 'finished' } | { end: 'released' } | { end: 'failed'; reason: string };

/** A retry a run waits to make: after what failure, and how long it waits. */
interface Retry {
  waitMs: number;
  failure: DependencyFailure;
  error: unknown;
  attempt: number;
}

/** What failed when a dependency did, as a run reports it. */
interface DependencyFailure {
  what: string;
  transient: boolean;
  detail?: string;
}

type ExportFilters = Omit<ExportPageQuery, 'type' | 'afterSeq' | 'limit'>;

/** What the run selects, and what it found it could not export (for the manifest's error files). */
interface Selection {
  filters: ExportFilters;
  issues: OperationOutcome[];
}

/**
 * Runs one export job (Bulk Data IG, export page "Bulk Data Output File Request": one NDJSON
 * file per type). Pages every type with keyset pagination, copies each resource's stored JSON
 * (or, for a type `_elements` restricts, its subset) into rotating NDJSON files, and
 * checkpoints cursor and writer state in the job row once the bytes they cover are durable, so
 * a retried job resumes exactly where the last one stopped.
 * Plain class: testable without Redis.
 */
/** A page as written, with the resources an anonymized export wrote as stubs. */
type AnonymizedPage = NdjsonPage & { skipped?: SkippedResource[] };

/** Skipped resources listed in the manifest's error file; the rest are counted. */
const MAX_SKIPPED_LISTED = 1000;

function noteSkipped(checkpoint: ExportCheckpoint, skipped: SkippedResource[]): void {
  checkpoint.skippedCount = (checkpoint.skippedCount ?? 0) + skipped.length;
  checkpoint.skipped = [...(checkpoint.skipped ?? []), ...skipped].slice(0, MAX_SKIPPED_LISTED);
}

/** One OperationOutcome per resource written as a stub, and one for those not listed. */
function skippedOutcomes(checkpoint: ExportCheckpoint): OperationOutcome[] {
  const listed = (checkpoint.skipped ?? []).map((s) =>
    operationOutcome(
      'warning',
      'processing',
      `${s.type}/${s.id} could not be anonymized and was exported as a redacted stub (processingErrors: skip): ${s.reason}`,
    ),
  );
  const more = (checkpoint.skippedCount ?? 0) - listed.length;
  if (more > 0) {
    listed.push(
      operationOutcome(
        'warning',
        'processing',
        `${more} more resources were exported as redacted stubs (processingErrors: skip)`,
      ),
    );
  }
  return listed;
}

@Injectable()
export class ExportRunner {
  private readonly logger = new Logger(ExportRunner.name);

  constructor(
    private readonly jobs: ExportJobService,
    private readonly reads: ExportReadRepository,
    private readonly sink: ExportSink,
    private readonly definitions: FhirDefinitions,
    private readonly compartment: PatientCompartment,
    private readonly groups: GroupMembers,
    private readonly anonymizers: ExportAnonymizers,
    private readonly config: AppConfig,
  ) {}

  /**
   * Runs the export to its end. A dependency failure that can pass (PostgreSQL restarting,
   * storage answering 503 or not at all) does not end the job: the run waits with backoff and
   * resumes from its last durable checkpoint, for EXPORT_RETRY_FOR_MS after its last durable
   * progress. Anything else, or the window running out, fails the job saying what failed.
   */
  async run(exportId: string, stop: AbortSignal = new AbortController().signal): Promise<RunEnd> {
    const retries = new RetryWindow(this.config);
    const startedAt = Date.now();
    let run: Run | undefined;
    let retry: Retry | undefined;
    for (;;) {
      if (stop.aborted) return { end: 'released' };
      try {
        if (retry) await this.waitToRetry(exportId, run, retry, stop);
        if (!run) {
          // Claimed inside the loop: PostgreSQL failing at the start is retried like any other.
          const job = await this.jobs.find(exportId);
          const claim = job && (await this.jobs.claim(exportId));
          if (!job || !claim) return { end: 'finished' };
          run = { job, ...claim, progress: {}, stop, durableAt: Date.now() };
        } else if (retry) {
          await this.resume(run);
        }
        await this.export(run);
        return { end: 'finished' };
      } catch (error) {
        if (error instanceof RunStopped) {
          return run ? this.stopped(run, error) : { end: 'released' };
        }
        // A stopping worker's error may come from the shutdown itself (a connection closing):
        // the durable checkpoint stands, and the next worker resumes from it.
        if (stop.aborted) return { end: 'released' };
        const failure = this.dependencyFailure(error);
        const waitMs = failure?.transient ? retries.next(run?.durableAt ?? startedAt) : undefined;
        if (failure && waitMs !== undefined) {
          retry = { waitMs, failure, error, attempt: retries.attempts };
          continue;
        }
        // Not claimed yet: nothing of this run to fail; the queue records it, the sweep retries.
        if (!run) throw error;
        return this.failRun(run, error, failure);
      }
    }
  }

  /** What an error says of the dependencies: storage's own errors first, then PostgreSQL's. */
  private dependencyFailure(error: unknown): DependencyFailure | undefined {
    const storage = this.sink.failure(error);
    if (storage) return { what: 'the export storage', ...storage };
    if (isDependencyUnavailable(error)) return { what: 'PostgreSQL', transient: true };
    return undefined;
  }

  private async waitToRetry(
    exportId: string,
    run: Run | undefined,
    retry: Retry,
    stop: AbortSignal,
  ): Promise<void> {
    const { what, detail } = retry.failure;
    this.logger.warn(
      { exportId, attempt: retry.attempt, waitMs: Math.round(retry.waitMs), err: retry.error },
      `${what} failed${detail ? ` (${detail})` : ''}; the export resumes from its last checkpoint`,
    );
    if (run) {
      run.progress = {
        ...run.progress,
        phase: 'retrying',
        retrying: { what, attempt: retry.attempt },
      };
      // Best effort: while PostgreSQL is down the row cannot say so, and the run waits anyway.
      await this.jobs.saveProgress(run.job.id, run.runId, run.progress).catch(() => undefined);
    }
    try {
      await sleep(retry.waitMs, undefined, { signal: stop });
    } catch {
      throw new RunStopped('released');
    }
  }

  /** Re-reads the durable checkpoint this run resumes from, as long as the run still owns it. */
  private async resume(run: Run): Promise<void> {
    const checkpoint = await this.jobs.ownedCheckpoint(run.job.id, run.runId);
    if (!checkpoint) throw await this.refused(run);
    run.checkpoint = checkpoint;
  }

  private async stopped(run: Run, stop: RunStopped): Promise<RunEnd> {
    const exportId = run.job.id;
    switch (stop.reason) {
      case 'cancelled':
        await this.discard(run.job);
        return { end: 'finished' };
      case 'lost':
        this.logger.warn({ exportId }, 'another run claimed the export; this one stops');
        return { end: 'finished' };
      case 'released':
        this.logger.log({ exportId }, 'worker stopping: export released at its last checkpoint');
        return { end: 'released' };
    }
  }

  /**
   * Fails the job with what the client can act on: the dependency that failed and why, or a
   * correlation id for the log. Its partial files go; those that cannot (storage is down) are
   * purged with the job when it expires.
   */
  private async failRun(
    run: Run,
    error: unknown,
    failure: DependencyFailure | undefined,
  ): Promise<RunEnd> {
    const { job } = run;
    let outcome: OperationOutcome;
    if (error instanceof FhirException) {
      outcome = error.outcome;
    } else if (failure) {
      const cause = failure.transient
        ? `${failure.what} was unavailable for longer than ${Number((this.config.EXPORT_RETRY_FOR_MS / 1000).toFixed(1))} s`
        : `${failure.what} refused a request`;
      this.logger.error({ err: error, exportId: job.id }, `Export ${job.id} failed: ${cause}`);
      outcome = operationOutcome(
        'error',
        'exception',
        `The export failed: ${cause}${failure.detail ? ` (${failure.detail})` : ''}; start it again`,
      );
    } else {
      outcome = internalError(this.logger, error, `Export ${job.id} failed`);
    }
    // Only the run that still owns the job fails it, and only then may it delete the files.
    if (await this.jobs.fail(job.id, outcome, run.runId)) {
      await this.sink.deleteAll(job.location).catch((err: unknown) => {
        this.logger.warn({ err, exportId: job.id }, 'could not delete files of a failed export');
      });
      await this.forgetRows(job);
    }
    return { end: 'failed', reason: outcome.issue.map((i) => i.diagnostics).join('; ') };
  }

  private async export(run: Run): Promise<void> {
    const { job, runId } = run;
    await this.waitForInFlightWrites(run);
    const { filters, issues } = await this.selection(job);
    const types = this.types(job);
    const checkpoint: ExportCheckpoint = {
      types: { ...run.checkpoint.types },
      skipped: [...(run.checkpoint.skipped ?? [])],
      skippedCount: run.checkpoint.skippedCount ?? 0,
    };
    // Built once per run: the configuration compiled, the keys opened.
    const anonymizer = this.anonymizers.forJob(job);
    const progress: ExportProgress = {
      phase: 'exporting',
      exported: Object.values(checkpoint.types ?? {}).reduce((n, t) => n + durableLines(t), 0),
    };
    run.progress = progress;
    // Exact as of transaction_time, for X-Progress and to skip a type counted empty without a
    // query; counted beside the export, so the first byte does not wait for a pass over every
    // type. Until they arrive, X-Progress says how many resources are exported so far.
    const counts = new Map<string, number>();
    const counting = this.count(job, types, filters).then(
      (found) => {
        for (const [type, n] of found) counts.set(type, n);
        progress.total = [...found.values()].reduce((sum, n) => sum + n, 0);
      },
      (err: unknown) => {
        this.logger.warn({ err, exportId: job.id }, 'could not count the export for its progress');
      },
    );
    await this.jobs.saveProgress(job.id, runId, progress);
    let touchedAt = Date.now();
    await this.sink.prepare(job.location);

    for (const type of types) {
      if (run.stop.aborted) throw new RunStopped('released');
      const state: TypeCheckpoint = checkpoint.types?.[type] ?? {
        cursor: '0',
        done: false,
        files: [],
      };
      if (state.done || (state.cursor === '0' && counts.get(type) === 0)) continue;
      const writer = new RotatingNdjsonWriter({
        sink: this.sink,
        location: job.location,
        type,
        maxFileBytes: maxFileBytesFromMegabytes(this.config.EXPORT_FILE_MAX_MB),
        resume: state.writer as WriterCheckpoint | undefined,
      });
      const subset = elementSelection(job.request.elements, type, this.definitions);
      const rowsOf = this.selectsRows(job, types, filters, type) ? job.id : undefined;
      // Once per type, before its first page (a resumed type's rows are there already).
      if (rowsOf && state.cursor === '0') {
        await this.reads.selectRows(job.id, {
          ...filters,
          typeFilters: typeFiltersOf(job, type),
          type,
        });
      }
      let cursor = state.cursor;
      let files: ExportedFile[];
      const pageRows = new PageRows(this.config.EXPORT_PAGE_SIZE, this.config.EXPORT_PAGE_MB * MB);
      // Read-ahead: the next page is read while this one is written, so PostgreSQL and the sink
      // overlap instead of taking turns. At most two pages are held: the one being written and
      // the one being read. A read that a stopping run leaves behind is awaited below.
      let limit = pageRows.first;
      const read = (afterSeq: string) => {
        const page = this.page(
          job,
          types,
          filters,
          type,
          afterSeq,
          limit,
          subset,
          anonymizer,
          rowsOf,
        );
        // Marks the promise handled only: a failed read is rethrown where it is awaited.
        page.catch(() => undefined);
        return page;
      };
      let ahead: Promise<AnonymizedPage> | undefined = read(cursor);
      try {
        let checkpointedBytes = writer.bytes;
        while (ahead) {
          const page = await ahead;
          ahead = undefined;
          if (page.count === 0 || page.lastSeq === undefined) break;
          // The row is the truth: a cancelled job, or one another run claimed, writes nothing more.
          // Checked after the page arrives, so a cancel during a slow read is never missed.
          await this.assertOwned(run);
          // A short page is the type's last: no query for the empty page after it.
          if (page.count === limit) {
            limit = pageRows.next(page);
            ahead = read(page.lastSeq);
          }
          await writer.write(page.ndjson);
          // Noted with the page that holds them, so they are durable with its cursor.
          if (page.skipped?.length) noteSkipped(checkpoint, page.skipped);
          cursor = page.lastSeq;
          progress.exported = (progress.exported ?? 0) + page.count;
          // A stopping worker makes what it wrote durable, so the next run starts from here.
          const releasing = run.stop.aborted;
          if (
            releasing ||
            writer.bytes - checkpointedBytes >= this.config.EXPORT_CHECKPOINT_MB * MB
          ) {
            // A run that lost its claim must not commit over its successor's blocks.
            await this.assertOwned(run);
            const writerState = await writer.checkpoint();
            checkpoint.types = {
              ...checkpoint.types,
              [type]: { cursor, writer: writerState, done: false, files: [] },
            };
            if (!(await this.jobs.saveCheckpoint(job.id, runId, checkpoint, progress))) {
              throw await this.refused(run);
            }
            run.durableAt = touchedAt = Date.now();
            checkpointedBytes = writer.bytes;
          } else if (Date.now() - touchedAt >= HEARTBEAT_MS) {
            await this.jobs.saveProgress(job.id, runId, progress);
            touchedAt = Date.now();
          }
          if (releasing) throw new RunStopped('released');
        }
        files = (await writer.finish()).map((f) => ({
          type,
          name: f.name,
          count: f.lines,
          bytes: f.bytes,
        }));
      } catch (error) {
        // Blocks still uploading must not land after a cancelled job's files are deleted, and a
        // page still being read must not outlive the run that asked for it; its rows are dropped.
        await Promise.all([writer.abort().catch(() => undefined), ahead?.catch(() => undefined)]);
        throw error;
      }
      checkpoint.types = { ...checkpoint.types, [type]: { cursor, done: true, files } };
      if (!(await this.jobs.saveCheckpoint(job.id, runId, checkpoint, progress))) {
        throw await this.refused(run);
      }
      run.durableAt = touchedAt = Date.now();
    }

    await counting;
    const output = Object.values(checkpoint.types ?? {}).flatMap((t) => t.files);
    const error = await this.writeIssues(job, [...issues, ...skippedOutcomes(checkpoint)]);
    if (!(await this.jobs.complete(job.id, runId, { output, error }))) {
      throw await this.refused(run);
    }
    await this.forgetRows(job);
  }

  /**
   * Holds the job until every transaction in flight at kick-off has ended: a write stamped at
   * or before transaction_time may commit only after the export would have read past it.
   */
  private async waitForInFlightWrites(run: Run): Promise<void> {
    const deadline = Date.now() + this.config.EXPORT_MAX_WRITE_WAIT_MS;
    let touchedAt = 0;
    while (!(await this.jobs.snapshotSettled(run.job.snapshot))) {
      if (Date.now() - touchedAt >= HEARTBEAT_MS) {
        await this.jobs.saveProgress(run.job.id, run.runId, { phase: 'waiting-for-writes' });
        touchedAt = Date.now();
      }
      // An idle-in-transaction session anywhere on the cluster would otherwise hold the
      // export forever: fail it with a reason the client can act on.
      if (Date.now() > deadline) {
        throw new FhirException(
          FhirErrorCode.Unavailable,
          `Transactions open at kick-off did not end within ${this.config.EXPORT_MAX_WRITE_WAIT_MS} ms; start the export again`,
          { issueType: 'timeout' },
        );
      }
      if (run.stop.aborted) throw new RunStopped('released');
      await this.assertOwned(run);
      await sleep(100);
    }
  }

  private async assertOwned(run: Run): Promise<void> {
    const state = await this.jobs.runState(run.job.id, run.runId);
    if (state !== 'owned') throw new RunStopped(state);
  }

  /** Why a fenced write of this run was refused. */
  private async refused(run: Run): Promise<Error> {
    const state = await this.jobs.runState(run.job.id, run.runId);
    return state === 'owned'
      ? new Error('the job row refused an update this run still owns')
      : new RunStopped(state);
  }

  private async selection(job: ExportJobEntity): Promise<Selection> {
    const { request } = job;
    const base = {
      transactionTime: job.transactionTime,
      since: request.since ? new Date(request.since) : undefined,
      until: request.until ? new Date(request.until) : undefined,
    };
    switch (request.level) {
      case 'system':
        return { filters: base, issues: [] };
      case 'patient':
        if (!request.patients) {
          return { filters: { ...base, anyPatientCompartment: true }, issues: [] };
        }
        await this.reads.saveSelection(job.id, { members: request.patients, excluded: [] });
        return { filters: { ...base, selectionOf: job.id }, issues: [] };
      case 'group': {
        const groupId = request.groupId ?? '';
        const at = job.transactionTime;
        const membership = await this.groups.membership(groupId, at);
        // Members the export cannot follow are said, not silently dropped (manifest `error`).
        const issues = membership.unresolved.map(({ groupId: listedBy, reference }) =>
          operationOutcome(
            'error',
            'not-found',
            `Group/${listedBy} lists member ${JSON.stringify(reference)}, which does not resolve to a Patient or Group on this server at ${at.toISOString()}; it was not exported`,
          ),
        );
        // R4 puts a Group in its members' compartments (`member`), but the Group read for the
        // membership, and the Groups nested in it, are the request, not its data.
        const excluded = membership.groupIds.map((id) => ({ type: 'Group', id }));
        const members = membership.patientIds;
        const filters = { ...base, selectionOf: job.id };
        if (!request.patients) {
          await this.reads.saveSelection(job.id, { members, excluded });
          return { filters, issues };
        }
        // The Bulk Data IG `patient` parameter narrows a Group export; it never widens it.
        const memberSet = new Set(members);
        const outside = request.patients.filter((id) => !memberSet.has(id));
        await this.reads.saveSelection(job.id, {
          members: request.patients.filter((id) => memberSet.has(id)),
          excluded,
        });
        return {
          filters,
          issues: [
            ...issues,
            ...outside.map((id) =>
              operationOutcome(
                'error',
                'not-found',
                `Patient/${id} is not an active member of Group/${groupId} at ${at.toISOString()}; its data was not exported`,
              ),
            ),
          ],
        };
      }
    }
  }

  /**
   * The types written: the requested ones the level covers, plus Provenance when
   * `includeAssociatedData` adds it; sorted so resumes walk them in order.
   */
  private types(job: ExportJobEntity): string[] {
    const types = this.requestedTypes(job);
    if (associationOf(job) && !types.includes(PROVENANCE)) types.push(PROVENANCE);
    return types.sort();
  }

  /** Requested types, or every type the level covers, that the level covers; sorted. */
  private requestedTypes(job: ExportJobEntity): string[] {
    const { request } = job;
    const covered =
      request.level === 'system'
        ? this.definitions.resourceTypes
        : this.compartment.compartmentTypes;
    return [...(request.types ?? covered)].filter((t) => covered.includes(t)).sort();
  }

  /** Resources per type that the export selects as of transaction_time. */
  private async count(
    job: ExportJobEntity,
    types: string[],
    filters: ExportFilters,
  ): Promise<Map<string, number>> {
    const filtered = (type: string) =>
      this.provenanceQuery(job, types, filters, type) !== undefined ||
      typeFiltersOf(job, type).length > 0;
    // One grouped query for the plain types; a system export used to spend ~0.7 s on ~146
    // one-type counts.
    const counts = await this.reads.counts({
      ...filters,
      types: types.filter((type) => !filtered(type)),
    });
    for (const type of types.filter(filtered)) {
      const provenance = this.provenanceQuery(job, types, filters, type);
      counts.set(
        type,
        provenance
          ? await this.reads.provenanceCount(provenance)
          : await this.reads.count({
              ...filters,
              typeFilters: typeFiltersOf(job, type),
              type,
            }),
      );
    }
    return counts;
  }

  /**
   * One keyset page of `type` as NDJSON: its own rows, or for Provenance with associated data,
   * the union. Only `_elements` subsets and de-identified exports parse JSON; every other page is
   * the stored bytes.
   */
  private async page(
    job: ExportJobEntity,
    types: string[],
    filters: ExportFilters,
    type: string,
    afterSeq: string,
    limit: number,
    subset: ElementSelection | undefined,
    anonymizer: JobAnonymizer | undefined,
    rowsOf: string | undefined,
  ): Promise<AnonymizedPage> {
    const provenance = this.provenanceQuery(job, types, filters, type);
    const query = rowsOf
      ? { transactionTime: filters.transactionTime, rowsOf, type, afterSeq, limit }
      : { ...filters, typeFilters: typeFiltersOf(job, type), type, afterSeq, limit };
    const stored = provenance
      ? ndjsonFromRows(await this.reads.provenancePage({ ...provenance, afterSeq, limit }))
      : await this.reads.pageNdjson(query);
    if (!subset && !anonymizer) return stored;
    // `_elements` first: the rules then see only what is exported.
    const skipped: SkippedResource[] = [];
    const page = mapNdjsonLines(stored, (content) => {
      const selected = subset ? subsetResource(content, subset) : content;
      if (!anonymizer) return selected;
      const { line, skipped: skip } = anonymizer.line(selected);
      if (skip) skipped.push(skip);
      return line;
    });
    return anonymizer ? { ...page, skipped } : page;
  }

  /**
   * The Provenance selection when `includeAssociatedData` asks for Provenance (Bulk Data IG,
   * "Query Parameters"): the Provenance targeting the export's other types, united with
   * Provenance's own selection when Provenance was requested (or covered) as a type itself.
   * Undefined for every other type, and for Provenance without associated data.
   */
  private provenanceQuery(
    job: ExportJobEntity,
    types: string[],
    filters: ExportFilters,
    type: string,
  ): Omit<ProvenancePageQuery, 'afterSeq' | 'limit'> | undefined {
    const association = associationOf(job);
    if (type !== PROVENANCE || !association) return undefined;
    return {
      ...filters,
      association,
      targets: types
        .filter((t) => t !== PROVENANCE)
        .map((t) => ({ type: t, typeFilters: typeFiltersOf(job, t) })),
      own: this.requestedTypes(job).includes(PROVENANCE)
        ? { typeFilters: typeFiltersOf(job, PROVENANCE) }
        : undefined,
    };
  }

  /**
   * The manifest's error files (Bulk Data IG, "Response - Complete Status", `error`): what
   * `Prefer: handling=lenient` let through, then what the run could not export.
   */
  private async writeIssues(
    job: ExportJobEntity,
    issues: OperationOutcome[],
  ): Promise<ExportedFile[]> {
    if (!job.request.warnings.length && !issues.length) return [];
    const writer = new RotatingNdjsonWriter({
      sink: this.sink,
      location: job.location,
      // Named apart from any exported type (types are capitalised): error-1.ndjson.
      type: 'error',
      maxFileBytes: maxFileBytesFromMegabytes(this.config.EXPORT_FILE_MAX_MB),
    });
    const lines = [
      ...job.request.warnings.map((w) => operationOutcome('warning', 'processing', w)),
      ...issues,
    ].map((outcome) => JSON.stringify(outcome));
    await writer.write(lines.map((line) => `${line}\n`).join(''));
    return (await writer.finish()).map((f) => ({
      type: 'OperationOutcome',
      name: f.name,
      count: f.lines,
      bytes: f.bytes,
    }));
  }

  private async discard(job: ExportJobEntity): Promise<void> {
    this.logger.log({ exportId: job.id }, 'export cancelled; deleting its files');
    await this.sink.deleteAll(job.location).catch((error: unknown) => {
      this.logger.warn(
        { err: error, exportId: job.id },
        'could not delete files of a cancelled export',
      );
    });
    await this.forgetRows(job);
  }

  /**
   * Whether the pages of `type` read rows selected once per type: those filtered by values that
   * identify someone (a Group's or `patient`'s members, `_typeFilter` searches), so the values
   * are bound once and every page still goes through COPY and reads only its own rows. The
   * Provenance of `includeAssociatedData` is read as before.
   */
  private selectsRows(
    job: ExportJobEntity,
    types: string[],
    filters: ExportFilters,
    type: string,
  ): boolean {
    if (this.provenanceQuery(job, types, filters, type)) return false;
    return filters.selectionOf !== undefined || typeFiltersOf(job, type).length > 0;
  }

  /** Rows kept for an export that ended go now rather than when it expires. */
  private async forgetRows(job: ExportJobEntity): Promise<void> {
    await this.reads.forgetRows(job.id).catch((err: unknown) => {
      this.logger.warn({ err, exportId: job.id }, 'could not drop the rows an export selected');
    });
  }
}

/** The `_typeFilter` searches of one type (OR-ed); none means the type is not filtered. */
function typeFiltersOf(job: ExportJobEntity, type: string): { query: string }[] {
  return job.request.typeFilters.filter((f) => f.type === type);
}

/**
 * What `includeAssociatedData` asks for: RelevantProvenanceResources includes every
 * Provenance LatestProvenanceResources would, so it wins when both are given. `_custom`
 * values never reach a job (the kick-off refuses or drops them).
 */
function associationOf(job: ExportJobEntity): ProvenanceAssociation | undefined {
  const values = job.request.includeAssociatedData ?? [];
  if (values.includes('RelevantProvenanceResources')) return 'relevant';
  if (values.includes('LatestProvenanceResources')) return 'latest';
  return undefined;
}

/**
 * How many resources each page of one type asks for: as many as fit in `maxBytes` at the
 * average size of the type's resources so far, between 1 and `maxRows`. The first page asks
 * for a few, since a type's resources may be small (Observation, ~1 KB) or large (Provenance
 * of a whole record, ~25 KB).
 */
class PageRows {
  private rows = 0;
  private bytes = 0;

  constructor(
    private readonly maxRows: number,
    private readonly maxBytes: number,
  ) {}

  get first(): number {
    return Math.min(this.maxRows, FIRST_PAGE_ROWS);
  }

  next(page: NdjsonPage): number {
    this.rows += page.count;
    this.bytes += page.ndjson.length;
    const fit = Math.floor(this.maxBytes / (this.bytes / this.rows));
    return Math.max(1, Math.min(this.maxRows, fit));
  }
}

/** Lines a checkpoint of one type says are durable in storage. */
function durableLines(state: TypeCheckpoint): number {
  if (state.done) return state.files.reduce((n, f) => n + f.count, 0);
  const writer = state.writer as WriterCheckpoint | undefined;
  if (!writer) return 0;
  return writer.files.reduce((n, f) => n + f.lines, writer.current?.lines ?? 0);
}

/**
 * The retry budget of one run: waits that double from EXPORT_RETRY_DELAY_MS up to
 * EXPORT_RETRY_MAX_DELAY_MS (with jitter, so workers that failed together do not retry
 * together), within EXPORT_RETRY_FOR_MS of the first failure since the run's last durable
 * progress.
 */
class RetryWindow {
  private openedAt?: number;
  private delayMs = 0;
  attempts = 0;

  constructor(
    private readonly config: Pick<
      AppConfig,
      'EXPORT_RETRY_FOR_MS' | 'EXPORT_RETRY_DELAY_MS' | 'EXPORT_RETRY_MAX_DELAY_MS'
    >,
  ) {}

  /** The wait before the next attempt, or undefined once the window has run out. */
  next(durableAt: number, now = Date.now()): number | undefined {
    if (this.openedAt === undefined || durableAt > this.openedAt) {
      this.openedAt = now;
      this.delayMs = this.config.EXPORT_RETRY_DELAY_MS;
      this.attempts = 0;
    }
    const left = this.openedAt + this.config.EXPORT_RETRY_FOR_MS - now;
    if (left <= 0) return undefined;
    const wait = Math.min(left, this.delayMs * (0.75 + Math.random() * 0.5));
    this.delayMs = Math.min(this.config.EXPORT_RETRY_MAX_DELAY_MS, this.delayMs * 2);
    this.attempts += 1;
    return wait;
  }
}
