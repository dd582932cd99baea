import { constants } from 'node:fs';
import { createHash } from 'node:crypto';
import { access, FileHandle, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isNetworkErrorCode } from '../../common/dependency-unavailable';
import { BlockQueue } from './block-queue';
import {
  assertSafeLocation,
  CONFIGURATION_CONTAINER,
  ConfigurationNotRead,
  ExportFileWriter,
  ExportLocation,
  ExportSink,
  FileCheckpoint,
  fileGone,
  StorageFailure,
  StoredConfiguration,
} from './export-sink';

/** The fs system calls behind this sink's operations, as node names them in errors. */
const SINK_SYSCALLS = new Set([
  'open',
  'write',
  'writev',
  'read',
  'fsync',
  'fdatasync',
  'ftruncate',
  'fstat',
  'stat',
  'mkdir',
  'rm',
  'rmdir',
  'unlink',
  'close',
  'access',
  'scandir',
  'lstat',
]);

/** errno codes of a file system that may recover: full, busy, or a network mount that hiccuped. */
const TRANSIENT_ERRNO = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EAGAIN',
  'EBUSY',
  'ESTALE',
  'ETIMEDOUT',
  'EMFILE',
  'ENFILE',
]);

export interface FilesystemSinkOptions {
  root: string;
  /** Smallest single write; appends gather into writes of this size. */
  blockSizeBytes?: number;
  /** Positioned writes running concurrently per file. */
  maxBlocksInFlight?: number;
}

// Smaller than an export page (~3 MB), so a page goes to the file as it is instead of being
// copied into a larger block first; small pages still gather into one write.
const DEFAULT_BLOCK_SIZE = 1024 * 1024;
const DEFAULT_BLOCKS_IN_FLIGHT = 2;

/**
 * Export files in a local directory tree, `{root}/{container}/{prefix}{file}`, the same layout as
 * the blob sink, for on-premises use and benchmarks. A commit is an fsync; a checkpoint is the
 * byte length, and resuming truncates the file back to it.
 */
export class FilesystemSink extends ExportSink {
  private readonly root: string;
  private readonly blockSize: number;
  private readonly blocksInFlight: number;

  constructor(options: FilesystemSinkOptions) {
    super();
    this.root = resolve(options.root);
    this.blockSize = options.blockSizeBytes ?? DEFAULT_BLOCK_SIZE;
    this.blocksInFlight = options.maxBlocksInFlight ?? DEFAULT_BLOCKS_IN_FLIGHT;
  }

  failure(error: unknown): StorageFailure | undefined {
    const { code, syscall } = (error ?? {}) as NodeJS.ErrnoException;
    // Only the file calls this sink makes. A socket error (PostgreSQL's ECONNRESET on `read`)
    // carries a code and a syscall too, and is not storage's.
    if (typeof code !== 'string' || !SINK_SYSCALLS.has(syscall ?? '') || isNetworkErrorCode(code)) {
      return undefined;
    }
    // The path stays out of what a client may read.
    return { transient: TRANSIENT_ERRNO.has(code), detail: `${code} on ${syscall}` };
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.W_OK);
  }

  async prepare(location: ExportLocation): Promise<void> {
    await mkdir(this.directory(location), { recursive: true });
  }

  async openFile(
    location: ExportLocation,
    fileName: string,
    resume?: FileCheckpoint,
  ): Promise<ExportFileWriter> {
    if (resume && resume.kind !== 'filesystem') {
      throw new Error(`Cannot resume ${fileName} from a ${resume.kind} checkpoint`);
    }
    const path = this.path(location, fileName);
    if (!resume) {
      const handle = await open(path, 'w');
      return new FilesystemFileWriter(handle, fileName, 0, dirname(path), this.writerOptions());
    }
    const handle = await open(path, 'r+');
    try {
      const { size } = await handle.stat();
      if (size < resume.bytes) {
        throw new Error(
          `${path} has ${size} bytes, fewer than the ${resume.bytes} its checkpoint made durable`,
        );
      }
      await handle.truncate(resume.bytes);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new FilesystemFileWriter(
      handle,
      fileName,
      resume.bytes,
      undefined,
      this.writerOptions(),
    );
  }

  /** From `{root}/anonymization/{name}`; the ETag is a hash of the content (a strong one). */
  async readConfiguration(
    name: string,
    options: { etag?: string; maxBytes: number },
  ): Promise<StoredConfiguration> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) {
      throw new ConfigurationNotRead('not-found', `'${name}' is not a configuration name`);
    }
    const folder = join(this.root, CONFIGURATION_CONTAINER);
    if (!(await stat(folder).catch(() => undefined))?.isDirectory()) {
      throw new ConfigurationNotRead(
        'no-container',
        `The export storage has no '${CONFIGURATION_CONTAINER}' folder for anonymization configurations`,
      );
    }
    const file = join(folder, name);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      throw new ConfigurationNotRead(
        'not-found',
        `The anonymization configuration '${name}' is not in the '${CONFIGURATION_CONTAINER}' folder`,
      );
    }
    if (info.size > options.maxBytes) {
      throw new ConfigurationNotRead(
        'too-large',
        `The anonymization configuration '${name}' is ${info.size} bytes; at most ${options.maxBytes} are read`,
      );
    }
    const content = await readFile(file);
    const etag = `"${createHash('sha256').update(content).digest('hex').slice(0, 32)}"`;
    if (options.etag !== undefined && options.etag !== etag) {
      throw new ConfigurationNotRead(
        'etag-mismatch',
        `The anonymization configuration '${name}' is not at ETag ${options.etag}`,
      );
    }
    return { content, etag };
  }

  async read(location: ExportLocation, fileName: string): Promise<NodeJS.ReadableStream> {
    const handle = await open(this.path(location, fileName), 'r').catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw fileGone(fileName);
      throw error;
    });
    return handle.createReadStream();
  }

  async deleteAll(location: ExportLocation): Promise<void> {
    await rm(this.directory(location), { recursive: true, force: true });
  }

  private writerOptions(): { blockSize: number; blocksInFlight: number } {
    return { blockSize: this.blockSize, blocksInFlight: this.blocksInFlight };
  }

  private directory(location: ExportLocation): string {
    assertSafeLocation(location);
    return join(this.root, location.container, location.prefix);
  }

  private path(location: ExportLocation, fileName: string): string {
    assertSafeLocation(location, fileName);
    return join(this.root, location.container, location.prefix, fileName);
  }
}

/**
 * Bytes written after which a background flush starts, so a commit's fsync finds little left
 * to write: the disk works while the export goes on reading instead of at every checkpoint.
 */
const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

class FilesystemFileWriter implements ExportFileWriter {
  private readonly queue: BlockQueue;
  private committedBytes: number;
  private unflushedBytes = 0;
  private flushing: Promise<void> | undefined;
  /** A failed flush (background or commit): data may be lost, so every later commit fails too. */
  private flushFailure: { error: unknown } | undefined;
  /** A new file needs its creation, a resumed one its truncation, made durable on the first commit. */
  private dirty = true;
  private closed = false;

  /** `newInDirectory`: the file was just created, so its directory entry needs an fsync too. */
  constructor(
    private readonly handle: FileHandle,
    readonly fileName: string,
    private readonly baseBytes: number,
    private newInDirectory: string | undefined,
    options: { blockSize: number; blocksInFlight: number },
  ) {
    this.committedBytes = baseBytes;
    this.queue = new BlockQueue(options.blockSize, options.blocksInFlight, (block, offset) =>
      this.writeAt(block, baseBytes + offset),
    );
  }

  get bytes(): number {
    return this.baseBytes + this.queue.bytes;
  }

  async append(chunk: Buffer): Promise<void> {
    this.assertOpen();
    await this.queue.push(chunk);
  }

  async commit(): Promise<FileCheckpoint> {
    this.assertOpen();
    await this.queue.drain();
    await this.flushing;
    if (this.flushFailure) throw this.flushFailure.error;
    const bytes = this.bytes;
    if (this.dirty || bytes !== this.committedBytes) {
      try {
        await this.handle.datasync();
        if (this.newInDirectory !== undefined) {
          await syncDirectory(this.newInDirectory);
          this.newInDirectory = undefined;
        }
      } catch (error) {
        // After a failed fsync Linux may report the next one as a success with the pages
        // dropped, so a retried commit must not call these bytes durable.
        this.flushFailure ??= { error };
        throw error;
      }
      this.dirty = false;
      this.committedBytes = bytes;
    }
    return { kind: 'filesystem', bytes: this.committedBytes };
  }

  async close(): Promise<FileCheckpoint> {
    try {
      return await this.commit();
    } finally {
      await this.release();
    }
  }

  async abort(): Promise<void> {
    await this.queue.discard();
    await this.release();
  }

  private async writeAt(block: Buffer, position: number): Promise<void> {
    let written = 0;
    while (written < block.length) {
      const { bytesWritten } = await this.handle.write(
        block,
        written,
        block.length - written,
        position + written,
      );
      written += bytesWritten;
    }
    this.unflushedBytes += block.length;
    if (this.unflushedBytes >= WRITE_BEHIND_BYTES && !this.flushing) this.flushInBackground();
  }

  private flushInBackground(): void {
    this.unflushedBytes = 0;
    this.flushing = this.handle
      .datasync()
      .catch((error: unknown) => {
        this.flushFailure ??= { error };
      })
      .finally(() => {
        this.flushing = undefined;
      });
  }

  private async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.handle.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.fileName} is already closed`);
  }
}

async function syncDirectory(path: string): Promise<void> {
  let directory: FileHandle | undefined;
  try {
    directory = await open(path, 'r');
    await directory.sync();
  } catch (error) {
    // Some platforms cannot open or fsync a directory; the file's own fsync still happened.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL') throw error;
  } finally {
    await directory?.close();
  }
}
