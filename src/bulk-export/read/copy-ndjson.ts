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
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const stream = client.query(copyTo(sql));
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  return ndjsonFromCopyBinary(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const NEWLINE = 0x0a;

/**
 * Parses PostgreSQL's binary COPY format
 * (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4) of rows
 * `(seq bigint, content text)` into NDJSON: each content followed by a newline.
 */
export function ndjsonFromCopyBinary(copy: Buffer): NdjsonPage {
  if (copy.length < SIGNATURE.length + 8 || !copy.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw new Error('not PostgreSQL binary COPY output');
  }
  let at = SIGNATURE.length + 4; // flags
  at += 4 + copy.readInt32BE(at); // header extension
  // The output is never longer than the input: each row drops 14 bytes of framing and seq,
  // and gains one newline.
  const ndjson = Buffer.allocUnsafe(copy.length);
  let length = 0;
  let count = 0;
  let lastSeq: bigint | undefined;
  for (;;) {
    const fields = copy.readInt16BE(at);
    at += 2;
    if (fields === -1) break;
    if (fields !== 2) throw new Error(`expected (seq, content) rows, got ${fields} fields`);
    if (copy.readInt32BE(at) !== 8) throw new Error('seq is not a bigint');
    lastSeq = copy.readBigInt64BE(at + 4);
    at += 12;
    const contentLength = copy.readInt32BE(at);
    at += 4;
    if (contentLength < 0) throw new Error(`row ${lastSeq} has no content`);
    const content = copy.subarray(at, at + contentLength);
    // The writer finds lines by their newlines; stored JSON is `JSON.stringify` output and has
    // none inside, but a row that did would split into two corrupt lines.
    if (content.includes(NEWLINE)) {
      throw new Error(
        `the content of row ${lastSeq} holds a raw newline; its NDJSON would be corrupt`,
      );
    }
    length += content.copy(ndjson, length);
    ndjson[length++] = NEWLINE;
    at += contentLength;
    count += 1;
  }
  return { ndjson: ndjson.subarray(0, length), count, lastSeq: lastSeq?.toString() };
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

/**
 * Rows of an export page (or their `_elements` subsets, through `content`) as NDJSON in one
 * buffer, each encoded straight into place.
 */
export function ndjsonFromRows(
  rows: readonly ExportRow[],
  content: (row: ExportRow) => string = (row) => row.content,
): NdjsonPage {
  const contents = rows.map(content);
  let bytes = 0;
  for (const text of contents) bytes += Buffer.byteLength(text, 'utf8') + 1;
  const ndjson = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (const [i, text] of contents.entries()) {
    const start = offset;
    offset += ndjson.write(text, offset, 'utf8');
    const newline = ndjson.indexOf(NEWLINE, start);
    if (newline !== -1 && newline < offset) {
      throw new Error(
        `the content of row ${rows[i].seq} holds a raw newline; its NDJSON would be corrupt`,
      );
    }
    ndjson[offset++] = NEWLINE;
  }
  return { ndjson, count: rows.length, lastSeq: rows.at(-1)?.seq };
}
