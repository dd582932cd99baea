import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ExportLevel, ExportRequest } from '../export-request';
import type { OperationOutcome } from '../../common/operation-outcome';
import type { ExportLocation } from '../storage/export-sink';

export type ExportJobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** One file of the manifest's `output` or `error` array. */
export interface ExportManifestFile {
  type: string;
  url: string;
  count: number;
}

/** The completion manifest of the Bulk Data IG ("Response - Complete Status"). */
export interface ExportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: ExportManifestFile[];
  error: ExportManifestFile[];
  deleted: ExportManifestFile[];
  /**
   * The IG reserves `extension` for additions: here, when the export expires and is purged, and
   * for a de-identified export, the configuration it applied.
   */
  extension?: {
    expires?: string;
    anonymized?: true;
    anonymizationConfig?: string;
    anonymizationConfigEtag?: string;
  };
}

/** The file as the worker records it; the URL is made when the manifest is served. */
export interface ExportedFile {
  type: string;
  name: string;
  count: number;
  bytes: number;
}

/**
 * Resume point of one resource type: rows with seq <= cursor are durable in storage, and
 * `writer` is the NDJSON writer state that covers exactly those rows.
 */
export interface TypeCheckpoint {
  cursor: string;
  writer?: unknown;
  done: boolean;
  files: ExportedFile[];
}

/** A resource an anonymized export wrote as a redacted stub (`processingErrors: skip`). */
export interface SkippedResource {
  type: string;
  id: string;
  reason: string;
}

export interface ExportCheckpoint {
  /**
   * The run that last claimed the job; only it may save the checkpoint or finish the job
   * (a fence against a worker BullMQ handed the job away from while it was only stalled).
   */
  runId?: string;
  types?: Record<string, TypeCheckpoint>;
  /** Resources written as stubs so far (durable with the cursors), at most MAX_SKIPPED_LISTED. */
  skipped?: SkippedResource[];
  /** How many there were, listed or not. */
  skippedCount?: number;
}

/** An anonymized export's configuration as validated at kick-off, and its sealed keys. */
export interface ExportAnonymization {
  /** The configuration file's text. */
  configuration: string;
  /** See sealed-keys.ts. */
  keys: string;
}

export interface ExportProgress {
  /**
   * Resources to export, as of the transaction time; absent until the count that runs beside
   * the first pages ends.
   */
  total?: number;
  /** Resources durably written so far. */
  exported?: number;
  phase?: 'waiting-for-writes' | 'exporting' | 'retrying' | 'finishing';
  /** While `retrying`: the dependency that failed and the attempt the run waits to make. */
  retrying?: { what: string; attempt: number };
}

@Entity({ name: 'export_job' })
export class ExportJobEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('text')
  level!: ExportLevel;

  @Column('text', { name: 'group_id', nullable: true })
  groupId!: string | null;

  @Column('jsonb')
  request!: ExportRequest;

  @Column('text', { name: 'request_key' })
  requestKey!: string;

  @Column('text', { name: 'request_url' })
  requestUrl!: string;

  @Column('text')
  owner!: string;

  @Column('timestamptz', { name: 'transaction_time' })
  transactionTime!: Date;

  /**
   * pg_snapshot taken after transaction_time and after an xid of the kick-off's own committed,
   * so it lists every transaction that could still commit a write stamped at or before
   * transaction_time; the worker waits for those to end.
   */
  @Column('text')
  snapshot!: string;

  @Column('text')
  status!: ExportJobStatus;

  @Column('jsonb')
  location!: ExportLocation;

  @Column('jsonb')
  checkpoint!: ExportCheckpoint;

  @Column('jsonb')
  progress!: ExportProgress;

  @Column('jsonb', { nullable: true })
  manifest!: { output: ExportedFile[]; error: ExportedFile[] } | null;

  @Column('jsonb', { nullable: true })
  error!: OperationOutcome | null;

  @Column('jsonb', { nullable: true })
  anonymization!: ExportAnonymization | null;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt!: Date;

  @Column('timestamptz', { name: 'started_at', nullable: true })
  startedAt!: Date | null;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt!: Date | null;
}
