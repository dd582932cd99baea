import { escapeLiteral, PoolClient } from 'pg';
import { prepareValue } from 'pg/lib/utils';
import { to as copyTo } from 'pg-copy-streams';
import type { ExportRow, NdjsonPage } from './export-read.repository';

/**
 * Runs `SELECT seq, content …` (with `$n` placeholders for `values`) as
 * `COPY … TO STDOUT (FORMAT binary)` and returns the contents as NDJSON. The binary format
 * hands over each text value as its UTF-8 bytes, so no JS string is made per resource: decoding
 * every row into a string and encoding it back was most of the export worker's time and most
 * of its garbage. COPY takes no bind parameters, so the values are inlined as quoted literals.
 */
export async function copyNdjsonPage(
  client: PoolClient,
  selectSql: string,
  values: readonly unknown[],
): Promise<NdjsonPage> {
  const sql = `COPY (${inlineParameters(selectSql, values)}) TO STDOUT (FORMAT binary)`;
  const framer = new CopyBinaryNdjson();
  // A framing error is kept, not thrown at the stream: the COPY must still run to its end,
  // or the connection would go back to the pool in the middle of it.
  let failure: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    const stream = client.query(copyTo(sql));
    stream.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      try {
        framer.push(chunk);
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
      }
    });
    stream.once('end', () => (failure === undefined ? resolve() : reject(failure)));
    stream.once('error', reject);
  });
  return framer.finish();
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags and the header extension's length. */
const HEADER_BYTES = SIGNATURE.length + 8;
/** Field count, seq's length and value, content's length. */
const ROW_FRAMING_BYTES = 2 + 4 + 8 + 4;
const NEWLINE = 0x0a;

/**
 * PostgreSQL binary COPY output of `(seq bigint, content text)` rows, turned into NDJSON as it
 * arrives: each chunk's complete rows are copied out and the chunk let go, so a page is held
 * once (as NDJSON) rather than once as COPY chunks, once joined, and once framed. A row split
 * across chunks waits, in pieces, until it is whole.
 */
export class CopyBinaryNdjson {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the parser needs before it can take its next step. */
  private needed = HEADER_BYTES;
  private headerRead = false;
  private ended = false;
  private readonly lines: Buffer[] = [];
  private count = 0;
  private lastSeq?: bigint;

  push(chunk: Buffer): void {
    if (this.ended) throw new Error('binary COPY output continues after its trailer');
    let rest = chunk;
    // A step split across chunks is completed from the front of this one, copying only the
    // bytes it still needs; the rest of the chunk is then read in place.
    while (this.pendingBytes > 0 && rest.length > 0) {
      const take = Math.min(rest.length, this.needed - this.pendingBytes);
      this.pending.push(rest.subarray(0, take));
      this.pendingBytes += take;
      rest = rest.subarray(take);
      if (this.pendingBytes < this.needed) return;
      const step = Buffer.concat(this.pending, this.pendingBytes);
      this.keep(step, this.parse(step));
    }
    if (rest.length === 0) return;
    if (this.ended) throw new Error('binary COPY output continues after its trailer');
    if (rest.length < this.needed) this.keep(rest, 0);
    else this.keep(rest, this.parse(rest));
  }

  /** Holds what the parser has not used of `data` until more arrives. */
  private keep(data: Buffer, used: number): void {
    this.pending = used < data.length ? [data.subarray(used)] : [];
    this.pendingBytes = data.length - used;
  }

  finish(): NdjsonPage {
    if (!this.headerRead) throw new Error('not PostgreSQL binary COPY output');
    if (!this.ended || this.pendingBytes > 0) {
      throw new Error('binary COPY output ended before its trailer');
    }
    const ndjson = this.lines.length === 1 ? this.lines[0] : Buffer.concat(this.lines);
    return { ndjson, count: this.count, lastSeq: this.lastSeq?.toString() };
  }

  /** Reads what `data` holds completely; returns how many bytes that used. */
  private parse(data: Buffer): number {
    let at = 0;
    if (!this.headerRead) {
      if (!data.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
        throw new Error('not PostgreSQL binary COPY output');
      }
      const header = HEADER_BYTES + data.readInt32BE(SIGNATURE.length + 4);
      if (data.length < header) {
        this.needed = header;
        return 0;
      }
      at = header;
      this.headerRead = true;
    }
    // Output is never longer than the rows it comes from: each drops 18 bytes of framing and
    // gains one newline.
    const out = Buffer.allocUnsafe(data.length - at);
    let length = 0;
    for (;;) {
      if (data.length - at < 2) break;
      const fields = data.readInt16BE(at);
      if (fields === -1) {
        at += 2;
        this.ended = true;
        if (at !== data.length) throw new Error('binary COPY output continues after its trailer');
        break;
      }
      if (fields !== 2) throw new Error(`expected (seq, content) rows, got ${fields} fields`);
      if (data.length - at < ROW_FRAMING_BYTES) break;
      if (data.readInt32BE(at + 2) !== 8) throw new Error('seq is not a bigint');
      const seq = data.readBigInt64BE(at + 6);
      const contentLength = data.readInt32BE(at + 14);
      if (contentLength < 0) throw new Error(`row ${seq} has no content`);
      const end = at + ROW_FRAMING_BYTES + contentLength;
      if (data.length < end) break;
      const content = data.subarray(at + ROW_FRAMING_BYTES, end);
      // The writer finds lines by their newlines; stored JSON is `JSON.stringify` output and has
      // none inside, but a row that did would split into two corrupt lines.
      if (content.includes(NEWLINE)) {
        throw new Error(
          `the content of row ${seq} holds a raw newline; its NDJSON would be corrupt`,
        );
      }
      length += content.copy(out, length);
      out[length++] = NEWLINE;
      this.count += 1;
      this.lastSeq = seq;
      at = end;
    }
    if (length > 0) this.lines.push(out.subarray(0, length));
    this.needed = this.nextNeed(data, at);
    return at;
  }

  /** How many bytes from `at` the next step needs: a field count, a row's framing, a whole row. */
  private nextNeed(data: Buffer, at: number): number {
    const remaining = data.length - at;
    if (this.ended || remaining < 2 || data.readInt16BE(at) === -1) return 2;
    if (remaining < ROW_FRAMING_BYTES) return ROW_FRAMING_BYTES;
    return ROW_FRAMING_BYTES + Math.max(0, data.readInt32BE(at + 14));
  }
}

/** Replaces `$1`, `$2`, … with `values` as SQL literals (untyped, as bind parameters are). */
export function inlineParameters(sql: string, values: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (placeholder, n: string) => {
    const index = Number(n) - 1;
    if (!(index >= 0 && index < values.length)) throw new Error(`no value for ${placeholder}`);
    return sqlLiteral(values[index]);
  });
}

function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return escapeLiteral(value);
  if (typeof value === 'number' && Number.isFinite(value)) return escapeLiteral(String(value));
  // pg's own text form of a bind value, so the literal reads back as the parameter would
  // (years before 1 as BC, arrays as {"a","b"} with their escapes).
  if (value instanceof Date || Array.isArray(value)) {
    return escapeLiteral(String(prepareValue(value)));
  }
  throw new Error(`cannot inline a ${typeof value} as an SQL literal`);
}

/** Rows of an export page as NDJSON in one buffer, each encoded straight into place. */
export function ndjsonFromRows(rows: readonly ExportRow[]): NdjsonPage {
  return {
    ndjson: encodeLines(
      rows.map((row) => row.content),
      (i) => `row ${rows[i].seq}`,
    ),
    count: rows.length,
    lastSeq: rows.at(-1)?.seq,
  };
}

/**
 * The page with each line replaced by `transform` of it (an `_elements` subset, a de-identified
 * copy): only such pages decode their lines into strings.
 */
export function mapNdjsonLines(page: NdjsonPage, transform: (line: string) => string): NdjsonPage {
  const { ndjson } = page;
  const lines: string[] = [];
  for (let start = 0; start < ndjson.length;) {
    const end = ndjson.indexOf(NEWLINE, start);
    if (end === -1) throw new Error('an NDJSON page ends inside a line');
    lines.push(transform(ndjson.toString('utf8', start, end)));
    start = end + 1;
  }
  if (lines.length !== page.count) {
    throw new Error(`an NDJSON page of ${page.count} resources holds ${lines.length} lines`);
  }
  return { ...page, ndjson: encodeLines(lines, (i) => `line ${i + 1} of the page`) };
}

function encodeLines(lines: readonly string[], nameOf: (index: number) => string): Buffer {
  let bytes = 0;
  for (const text of lines) bytes += Buffer.byteLength(text, 'utf8') + 1;
  const ndjson = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (const [i, text] of lines.entries()) {
    const start = offset;
    offset += ndjson.write(text, offset, 'utf8');
    const newline = ndjson.indexOf(NEWLINE, start);
    if (newline !== -1 && newline < offset) {
      throw new Error(
        `the content of ${nameOf(i)} holds a raw newline; its NDJSON would be corrupt`,
      );
    }
    ndjson[offset++] = NEWLINE;
  }
  return ndjson;
}
