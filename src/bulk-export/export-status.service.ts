import { Injectable } from '@nestjs/common';
import { EXPORT_PERMISSIONS, ownsExport, requirePermission } from '../auth/access/access-policy';
import { AccessPrincipal } from '../auth/access/principal';
import { AppConfig } from '../config/app-config';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { operationOutcome, OperationOutcome } from '../common/operation-outcome';
import { isExportId } from './export-id';
import { ExportJobService } from './job/export-job.service';
import { ExportedFile, ExportJobEntity, ExportManifest } from './job/export-job.entity';
import { exportExpiresAt } from './retention/export-expiry';
import { ExportSink } from './storage/export-sink';

export type ExportStatusView =
  | { kind: 'in-progress'; progress: string; retryAfterSeconds: number }
  | { kind: 'failed'; httpStatus: number; outcome: OperationOutcome }
  | { kind: 'complete'; manifest: ExportManifest; expires?: Date };

/**
 * Validity of the read-only SAS links handed out in manifests (EXPORT_FILE_URLS=sas): a link
 * is a credential of its own, so it lives little longer than an access token; the storage
 * checks it when a download starts, and polling the status URL again gives fresh ones.
 */
const SAS_LIFETIME_SECONDS = 15 * 60;

const FILE_NAME = /^[A-Za-z]+-\d+\.ndjson$/;

/** Status polling, manifest and file download of the Bulk Data IG ("Bulk Data Status Request"). */
@Injectable()
export class ExportStatusService {
  constructor(
    private readonly jobs: ExportJobService,
    private readonly sink: ExportSink,
    private readonly config: AppConfig,
  ) {}

  async status(id: string, baseUrl: string, principal: AccessPrincipal): Promise<ExportStatusView> {
    const job = await this.visibleJob(id, principal);
    switch (job.status) {
      case 'queued':
      case 'running':
        return { kind: 'in-progress', progress: progressText(job), retryAfterSeconds: 2 };
      case 'failed':
        return { kind: 'failed', httpStatus: 500, outcome: failureOutcome(job) };
      case 'completed': {
        // A SAS link needs no token later, so the token must cover every file now.
        if (this.config.EXPORT_FILE_URLS === 'sas') {
          const types = [...new Set((job.manifest?.output ?? []).map((f) => f.type))];
          requirePermission(principal, types, EXPORT_PERMISSIONS);
        }
        const manifest = await this.manifest(job, baseUrl);
        const anonymization = job.request.anonymization;
        const anonymized = anonymization && {
          anonymized: true as const,
          anonymizationConfig: anonymization.config,
          anonymizationConfigEtag: anonymization.version,
        };
        if (!job.finishedAt) {
          return { kind: 'complete', manifest: { ...manifest, extension: anonymized } };
        }
        const expires = exportExpiresAt(job.finishedAt, this.config.EXPORT_RETENTION_HOURS);
        return {
          kind: 'complete',
          manifest: { ...manifest, extension: { ...anonymized, expires: expires.toISOString() } },
          expires,
        };
      }
      case 'cancelled':
        throw notFound(id);
    }
  }

  /**
   * Streams one file of a completed job, with its type. An output file needs a token whose
   * scopes still cover its type (403 otherwise); the error files are the job's own.
   */
  async file(
    id: string,
    fileName: string,
    principal: AccessPrincipal,
  ): Promise<{ type: string; stream: NodeJS.ReadableStream }> {
    const job = await this.visibleJob(id, principal);
    const output = job.manifest?.output.find((f) => f.name === fileName);
    const error = job.manifest?.error.find((f) => f.name === fileName);
    const file = output ?? error;
    if (job.status !== 'completed' || !FILE_NAME.test(fileName) || !file) {
      throw FhirException.notFound(`Export ${id} has no file ${fileName}`);
    }
    if (output) requirePermission(principal, [output.type], EXPORT_PERMISSIONS);
    return { type: file.type, stream: await this.sink.read(job.location, fileName) };
  }

  /** The job, if it exists, is not cancelled and is the principal's; 404 otherwise. */
  private async visibleJob(id: string, principal: AccessPrincipal): Promise<ExportJobEntity> {
    if (!isExportId(id)) throw notFound(id);
    const job = await this.jobs.find(id);
    if (!job || job.status === 'cancelled' || !ownsExport(principal, job.owner)) {
      throw notFound(id);
    }
    return job;
  }

  private async manifest(job: ExportJobEntity, baseUrl: string): Promise<ExportManifest> {
    const sas = this.config.EXPORT_FILE_URLS === 'sas';
    const entry = async (file: ExportedFile) => ({
      type: file.type,
      url: sas
        ? await this.sink.sasUrl(job.location, file.name, SAS_LIFETIME_SECONDS)
        : `${baseUrl}/_operations/export/${job.id}/${file.name}`,
      count: file.count,
    });
    const byTypeThenNumber = (a: ExportedFile, b: ExportedFile) =>
      a.type.localeCompare(b.type) || fileNumber(a.name) - fileNumber(b.name);
    const output = [...(job.manifest?.output ?? [])].sort(byTypeThenNumber);
    const error = [...(job.manifest?.error ?? [])].sort(byTypeThenNumber);
    return {
      transactionTime: job.transactionTime.toISOString(),
      request: job.requestUrl,
      // SAS links carry their own authorization; our own file URLs need the bearer token.
      requiresAccessToken: this.config.AUTH_REQUIRED && !sas,
      output: await Promise.all(output.map(entry)),
      error: await Promise.all(error.map(entry)),
      deleted: [],
    };
  }
}

/**
 * What a failed job answers. The Bulk Data IG keeps the `transient` code for a status request
 * that failed while the export did not, telling the client to poll again; a failed export is
 * final (start it again), so older rows that stored `transient` are served as `exception`.
 */
function failureOutcome(job: ExportJobEntity): OperationOutcome {
  const outcome = job.error ?? operationOutcome('error', 'exception', 'The export failed');
  return {
    ...outcome,
    issue: outcome.issue.map((issue) =>
      issue.code === 'transient' ? { ...issue, code: 'exception' } : issue,
    ),
  };
}

function fileNumber(name: string): number {
  return Number(/-(\d+)\.ndjson$/.exec(name)?.[1] ?? 0);
}

function notFound(id: string): FhirException {
  return new FhirException(
    FhirErrorCode.NotFound,
    `No export job ${id} (unknown, cancelled, or expired and purged)`,
  );
}

/** X-Progress: a short human-readable percentage (the IG asks for under 100 characters). */
function progressText(job: ExportJobEntity): string {
  const { total, exported, phase } = job.progress;
  if (job.status === 'queued') return 'queued';
  if (phase === 'waiting-for-writes') return 'waiting for in-flight writes to commit';
  if (phase === 'finishing') return '100% writing manifest';
  const done = total
    ? `${Math.min(99, Math.floor(((exported ?? 0) * 100) / total))}% (${exported ?? 0} of ~${total} resources)`
    : `${exported ?? 0} resources exported`;
  const { retrying } = job.progress;
  if (phase === 'retrying' && retrying) {
    return `retrying (${retrying.what} failed, attempt ${retrying.attempt}); ${done}`.slice(0, 99);
  }
  return done;
}
