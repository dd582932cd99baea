import {
  ExportFileWriter,
  ExportLocation,
  ExportSink,
  FileCheckpoint,
} from '../storage/export-sink';

/** One complete NDJSON line, its trailing newline included. */
export type NdjsonLine = string | Buffer;

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

  /** Lines written so far over all files, durable or not. */
  get lines(): number {
    return this.files.reduce((sum, file) => sum + file.lines, this.current?.lines ?? 0);
  }

  /** Bytes written so far over all files, durable or not. */
  get bytes(): number {
    return this.files.reduce((sum, file) => sum + file.bytes, this.current?.bytes ?? 0);
  }

  write(line: NdjsonLine): Promise<void> {
    return this.writeBatch([line]);
  }

  /** Writes the lines in order; each one goes whole into one file. */
  async writeBatch(lines: readonly NdjsonLine[]): Promise<void> {
    this.assertOpen();
    let start = 0;
    let segmentBytes = 0;
    for (let i = 0; i < lines.length; i++) {
      segmentBytes += lineLength(lines[i]);
      if ((this.current?.bytes ?? 0) + segmentBytes > this.maxFileBytes) {
        await this.append(lines, start, i + 1, segmentBytes);
        await this.closeCurrent();
        start = i + 1;
        segmentBytes = 0;
      }
    }
    if (start < lines.length) await this.append(lines, start, lines.length, segmentBytes);
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

  private async append(
    lines: readonly NdjsonLine[],
    start: number,
    end: number,
    bytes: number,
  ): Promise<void> {
    const writer = await this.open();
    const file = this.current!;
    await writer.append(concatLines(lines, start, end, bytes));
    file.lines += end - start;
    file.bytes += bytes;
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

function lineLength(line: NdjsonLine): number {
  if (typeof line === 'string') {
    if (line.charCodeAt(line.length - 1) !== 10)
      throw new Error('An NDJSON line must end with \\n');
    return Buffer.byteLength(line, 'utf8');
  }
  if (line[line.length - 1] !== 10) throw new Error('An NDJSON line must end with \\n');
  return line.length;
}

/** One buffer for a run of lines: one storage append per run instead of one per line. */
function concatLines(
  lines: readonly NdjsonLine[],
  start: number,
  end: number,
  bytes: number,
): Buffer {
  if (end - start === 1) {
    const line = lines[start];
    return typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  }
  const buffer = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (let i = start; i < end; i++) {
    const line = lines[i];
    offset +=
      typeof line === 'string' ? buffer.write(line, offset, 'utf8') : line.copy(buffer, offset);
  }
  return buffer;
}
