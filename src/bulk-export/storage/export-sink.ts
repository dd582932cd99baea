import { FhirException } from '../../common/fhir-exception';
/** Where one export job's files go: a container and a folder prefix in it ('' or 'yyyyMMddTHHmmss-<id>/'). */
export interface ExportLocation {
  container: string;
  prefix: string;
}

/**
 * What is durable of one file after a commit, as plain JSON for the job row. Resuming from it
 * continues after exactly `bytes`: anything written past it by a crashed worker is dropped.
 */
export type FileCheckpoint =
  | { kind: 'azure-block-blob'; bytes: number; blockIds: string[] }
  | { kind: 'filesystem'; bytes: number };

/** The container (or folder) anonymization configurations are read from, as in Azure. */
export const CONFIGURATION_CONTAINER = 'anonymization';

/** A configuration file as stored, and its version (a quoted strong ETag). */
export interface StoredConfiguration {
  content: Buffer;
  etag: string;
}

/** Why a configuration could not be read; the kick-off answers it as a 400. */
export class ConfigurationNotRead extends Error {
  constructor(
    readonly reason: 'no-container' | 'not-found' | 'too-large' | 'etag-mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'ConfigurationNotRead';
  }
}

/** A storage error as an export run sees it (see {@link ExportSink.failure}). */
export interface StorageFailure {
  transient: boolean;
  detail: string;
}

/**
 * One output file being written. Calls are sequential (await each before the next); memory is
 * bounded by the block size times the blocks in flight, not by the file size.
 */
export interface ExportFileWriter {
  readonly fileName: string;
  /** Bytes appended so far, durable or not. */
  readonly bytes: number;
  /** Buffers the chunk; resolves once it is buffered or staged (waits only when too many blocks are in flight). */
  append(chunk: Buffer): Promise<void>;
  /** Makes everything appended so far durable and visible; the writer stays open for more. */
  commit(): Promise<FileCheckpoint>;
  /** Commits and releases the writer's resources. */
  close(): Promise<FileCheckpoint>;
  /** Releases the writer without committing what was appended since the last commit. */
  abort(): Promise<void>;
}

/**
 * Port for the storage that receives Bulk Data export files (Bulk Data IG, "Bulk Data Export
 * Operation Request Flow": the output files listed in the complete-status manifest). Bound to
 * Azure Blob Storage or to a local directory tree with the same layout.
 */
export abstract class ExportSink {
  /** Creates the container (or directory) if it does not exist yet. */
  abstract prepare(location: ExportLocation): Promise<void>;

  /** Opens `fileName` for writing: empty, or continuing after exactly the checkpointed bytes. */
  abstract openFile(
    location: ExportLocation,
    fileName: string,
    resume?: FileCheckpoint,
  ): Promise<ExportFileWriter>;

  /** Rejects with a 404 FhirException ({@link fileGone}) when the file is not in storage. */
  abstract read(location: ExportLocation, fileName: string): Promise<NodeJS.ReadableStream>;

  /** Removes every file of the location: the whole container when the prefix is '', else the folder. */
  abstract deleteAll(location: ExportLocation): Promise<void>;

  /** Resolves once the storage answers within `timeoutMs` (a readiness probe); rejects otherwise. */
  abstract ping(timeoutMs: number): Promise<void>;

  /**
   * Whether `error` came from this storage, and if so what it says for a run: `transient` when
   * retrying later can succeed (a dropped connection, a timeout, a 5xx or throttling), and a
   * short `detail` for the job's OperationOutcome. Undefined for errors that are not storage's.
   */
  abstract failure(error: unknown): StorageFailure | undefined;

  /**
   * An anonymization configuration: the blob `name` of the `anonymization` container (a
   * folder of that name on the filesystem), as Azure API for FHIR keeps them. With `etag` it
   * must be exactly that version (a strong match). Rejects with a {@link ConfigurationNotRead}
   * saying why it could not be read.
   */
  abstract readConfiguration(
    name: string,
    options: { etag?: string; maxBytes: number },
  ): Promise<StoredConfiguration>;

  /** A time-limited direct download link; only storage that can sign links supports it. */
  sasUrl(_location: ExportLocation, _fileName: string, _expiresInSeconds: number): Promise<string> {
    return Promise.reject(
      new Error(`${this.constructor.name} cannot issue signed URLs; use EXPORT_FILE_URLS=proxy`),
    );
  }
}

/**
 * Azure container naming rules ("Naming and Referencing Containers, Blobs, and Metadata"):
 * 3-63 characters, lowercase letters, digits and single hyphens, starting and ending with a
 * letter or digit. Path-like input (`/`, `..`, `%2F`) fails them as well.
 */
export function isValidContainerName(name: string): boolean {
  return name.length >= 3 && name.length <= 63 && /^[a-z0-9]+(-[a-z0-9]+)*$/.test(name);
}

/** `20261126T040500`: UTC, second precision, sortable. */
function compactTimestamp(at: Date): string {
  return at
    .toISOString()
    .replace(/\.\d{3}Z$/, '')
    .replace(/[-:]/g, '');
}

/** Container of a job exported without `_container`: `export-20261126t040500-<32 hex of the id>`. */
export function defaultContainerName(jobId: string, at: Date): string {
  const id = jobId
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 32);
  const name = `export-${compactTimestamp(at).toLowerCase()}`;
  return id ? `${name}-${id}` : name;
}

/** What `read` rejects with when the file is not (or no longer) in storage. */
export function fileGone(fileName: string): FhirException {
  return FhirException.notFound(`Export file ${fileName} is no longer in storage`);
}

/** Whether a name has the form of {@link defaultContainerName}, which clients may not choose. */
export function isDefaultContainerName(name: string): boolean {
  return /^export-\d{8}t\d{6}(-|$)/.test(name);
}

/** Folder of a job exported into a shared `_container`: `20261126T040500-<job id>/`. */
export function folderPrefix(jobId: string, at: Date): string {
  return `${compactTimestamp(at)}-${jobId}/`;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

function isSafeSegment(segment: string): boolean {
  return SEGMENT.test(segment) && segment !== '.' && segment !== '..';
}

/**
 * Rejects names that could escape the location (a filesystem sink joins them into paths), so
 * a bad value from a job row fails loudly instead of touching another job's files.
 */
export function assertSafeLocation(location: ExportLocation, fileName?: string): void {
  if (!isValidContainerName(location.container)) {
    throw new Error(`Invalid export container name ${JSON.stringify(location.container)}`);
  }
  const prefix = location.prefix;
  if (
    prefix !== '' &&
    (!prefix.endsWith('/') || !prefix.slice(0, -1).split('/').every(isSafeSegment))
  ) {
    throw new Error(`Invalid export folder prefix ${JSON.stringify(prefix)}`);
  }
  if (fileName !== undefined && !isSafeSegment(fileName)) {
    throw new Error(`Invalid export file name ${JSON.stringify(fileName)}`);
  }
}
