import {
  ExportFileWriter,
  ExportLocation,
  ExportSink,
  FileCheckpoint,
} from '../storage/export-sink';

/** One or more complete NDJSON lines, each with its trailing newline. */
export type NdjsonChunk = string | Buffer;

const NEWLINE = 0x0a;

/** A file of the export output, as the manifest reports it (`count` is `lines`). */
export interface WrittenFile {
  type: string;
  name: string;
  lines: number;
  bytes: number;
}

/**
 * Everything needed to resume writing one resource type exactly where a checkpoint left it.
 * Plain JSON, stored in the job row next to the cursor it covers.
 */
export interface WriterCheckpoint {
  type: string;
  /** Number of the file started last; 0 before the first line. */
  fileNumber: number;
  /** Files already closed by rollover. */
  files: WrittenFile[];
  /** The open file and exactly what of it is durable; null when the next line starts a new file. */
  current: { name: string; lines: number; bytes: number; file: FileCheckpoint } | null;
}

export interface RotatingNdjsonWriterOptions {
  sink: ExportSink;
  location: ExportLocation;
  /** Resource type; files are named `{type}-{n}.ndjson`. */
  type: string;
  /** A file is closed after the first line that takes it past this size. */
  maxFileBytes: number;
  resume?: WriterCheckpoint;
}

interface OpenFile {
  name: string;
  lines: number;
  bytes: number;
  writer: ExportFileWriter | null;
  /** Set until a resumed file is reopened. */
  resume?: FileCheckpoint;
}

/** Converts EXPORT_FILE_MAX_MB (MiB, may be fractional) to bytes. */
export function maxFileBytesFromMegabytes(megabytes: number): number {
  return Math.max(1, Math.floor(megabytes * 1024 * 1024));
}

/**
 * Writes one resource type's NDJSON output as `{type}-1.ndjson`, `{type}-2.ndjson`, ... (Bulk
 * Data IG, "Bulk Data Output File Request": one or more files per type). A line is never split:
 * the size is checked after each line, so a file passes the limit by at most its last line.
 * Calls are sequential: await each before the next.
 */
export class RotatingNdjsonWriter {
  private readonly sink: ExportSink;
  private readonly location: ExportLocation;
  private readonly type: string;
  private readonly maxFileBytes: number;
  private fileNumber: number;
  private readonly files: WrittenFile[];
  private current: OpenFile | null;
  private finished = false;

  constructor(options: RotatingNdjsonWriterOptions) {
    if (!/^[A-Za-z]+$/.test(options.type)) {
      throw new Error(`Invalid resource type ${JSON.stringify(options.type)}`);
    }
    if (!(options.maxFileBytes >= 1)) throw new Error('maxFileBytes must be at least 1');
    const resume = options.resume;
    if (resume && resume.type !== options.type) {
      throw new Error(`Cannot resume ${options.type} from a ${resume.type} checkpoint`);
    }
    this.sink = options.sink;
    this.location = options.location;
    this.type = options.type;
    this.maxFileBytes = options.maxFileBytes;
    this.fileNumber = resume?.fileNumber ?? 0;
    this.files = resume ? resume.files.map((file) => ({ ...file })) : [];
    this.current = resume?.current
      ? {
          name: resume.current.name,
          lines: resume.current.lines,
          bytes: resume.current.bytes,
          writer: null,
          resume: resume.current.file,
        }
      : null;
  }

  /** Bytes written so far over all files, durable or not. */
  get bytes(): number {
    return this.files.reduce((sum, file) => sum + file.bytes, this.current?.bytes ?? 0);
  }

  /**
   * Writes complete NDJSON lines, in order, each whole into one file. Lines are found by their
   * newlines (stored JSON has none inside: it is `JSON.stringify` output), so a page of
   * resources goes in as one buffer and is split only where a file rolls over.
   */
  async write(ndjson: NdjsonChunk): Promise<void> {
    this.assertOpen();
    const chunk = typeof ndjson === 'string' ? Buffer.from(ndjson, 'utf8') : ndjson;
    if (chunk.length === 0) return;
    if (chunk[chunk.length - 1] !== NEWLINE) throw new Error('An NDJSON line must end with \\n');
    let start = 0;
    while (start < chunk.length) {
      const room = this.maxFileBytes - (this.current?.bytes ?? 0);
      if (chunk.length - start <= room) {
        await this.append(chunk.subarray(start));
        return;
      }
      // The file closes after the first line that takes it past the limit: the line whose
      // newline sits at or beyond `room` bytes from here.
      const end = chunk.indexOf(NEWLINE, start + Math.max(0, room)) + 1;
      await this.append(chunk.subarray(start, end));
      await this.closeCurrent();
      start = end;
    }
  }

  /** Makes every line written so far durable and returns the state to resume from. */
  async checkpoint(): Promise<WriterCheckpoint> {
    this.assertOpen();
    let current: WriterCheckpoint['current'] = null;
    if (this.current) {
      const open = await this.open();
      const file = await open.commit();
      this.assertConsistent(file);
      current = { name: this.current.name, lines: this.current.lines, bytes: file.bytes, file };
    }
    return {
      type: this.type,
      fileNumber: this.fileNumber,
      files: this.files.map((file) => ({ ...file })),
      current,
    };
  }

  /** Commits the open file and returns every file of the type; none when no line was written. */
  async finish(): Promise<WrittenFile[]> {
    this.assertOpen();
    if (this.current) await this.closeCurrent();
    this.finished = true;
    return this.files.map((file) => ({ ...file }));
  }

  /** Drops what was written since the last checkpoint (the job is cancelled or failing). */
  async abort(): Promise<void> {
    this.finished = true;
    const writer = this.current?.writer;
    this.current = null;
    await writer?.abort();
  }

  private async append(lines: Buffer): Promise<void> {
    const writer = await this.open();
    const file = this.current!;
    await writer.append(lines);
    file.lines += countLines(lines);
    file.bytes += lines.length;
  }

  private async closeCurrent(): Promise<void> {
    const file = this.current!;
    const writer = await this.open();
    const durable = await writer.close();
    this.assertConsistent(durable);
    this.files.push({ type: this.type, name: file.name, lines: file.lines, bytes: file.bytes });
    this.current = null;
  }

  /** The writer of the current file, starting the next file or reopening a resumed one. */
  private async open(): Promise<ExportFileWriter> {
    if (!this.current) {
      this.fileNumber += 1;
      this.current = {
        name: `${this.type}-${this.fileNumber}.ndjson`,
        lines: 0,
        bytes: 0,
        writer: null,
      };
    }
    if (!this.current.writer) {
      this.current.writer = await this.sink.openFile(
        this.location,
        this.current.name,
        this.current.resume,
      );
      delete this.current.resume;
    }
    return this.current.writer;
  }

  private assertConsistent(durable: FileCheckpoint): void {
    if (durable.bytes !== this.current!.bytes) {
      throw new Error(
        `${this.current!.name}: storage holds ${durable.bytes} bytes, the writer counted ${this.current!.bytes}`,
      );
    }
  }

  private assertOpen(): void {
    if (this.finished) throw new Error(`The ${this.type} writer is already finished`);
  }
}

function countLines(lines: Buffer): number {
  let count = 0;
  for (let i = lines.indexOf(NEWLINE); i !== -1; i = lines.indexOf(NEWLINE, i + 1)) count++;
  return count;
}
