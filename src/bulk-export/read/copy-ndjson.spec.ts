import { CopyBinaryNdjson, inlineParameters, mapNdjsonLines, ndjsonFromRows } from './copy-ndjson';
import type { NdjsonPage } from './export-read.repository';

/** PostgreSQL binary COPY output of `(seq bigint, content text)` rows. */
function copyBinary(rows: [bigint, string][]): Buffer {
  const parts = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)];
  for (const [seq, content] of rows) {
    const head = Buffer.alloc(2 + 4 + 8 + 4);
    const body = Buffer.from(content, 'utf8');
    head.writeInt16BE(2, 0);
    head.writeInt32BE(8, 2);
    head.writeBigInt64BE(seq, 6);
    head.writeInt32BE(body.length, 14);
    parts.push(head, body);
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

/** The framer over output already in hand, in one chunk. */
function ndjsonFromCopyBinary(copy: Buffer): NdjsonPage {
  const framer = new CopyBinaryNdjson();
  framer.push(copy);
  return framer.finish();
}

describe('CopyBinaryNdjson on whole output', () => {
  it('turns (seq, content) rows into NDJSON, counting rows and keeping the last seq', () => {
    const page = ndjsonFromCopyBinary(
      copyBinary([
        [41n, '{"resourceType":"Patient","id":"a"}'],
        [9007199254740993n, '{"resourceType":"Patient","name":[{"text":"Zoë 😀"}]}'],
      ]),
    );
    expect(page.ndjson.toString('utf8')).toBe(
      '{"resourceType":"Patient","id":"a"}\n{"resourceType":"Patient","name":[{"text":"Zoë 😀"}]}\n',
    );
    expect(page).toMatchObject({ count: 2, lastSeq: '9007199254740993' });
  });

  it('returns an empty page for no rows', () => {
    expect(ndjsonFromCopyBinary(copyBinary([]))).toEqual({
      ndjson: Buffer.alloc(0),
      count: 0,
      lastSeq: undefined,
    });
  });

  it('refuses content with a raw newline, which would split into two corrupt lines', () => {
    expect(() => ndjsonFromCopyBinary(copyBinary([[1n, '{"a":\n1}']]))).toThrow(/raw newline/);
  });

  it('refuses what is not binary COPY output', () => {
    expect(() => ndjsonFromCopyBinary(Buffer.from('1\t{}\n'))).toThrow(/not PostgreSQL binary/);
  });
});

describe('inlineParameters', () => {
  it('quotes strings, numbers and arrays, and tells $1 from $10', () => {
    const values = ['a', 2, 3, 4, 5, 6, 7, 8, 9, "it's"];
    expect(inlineParameters('$1 $10 $2', values)).toBe("'a' 'it''s' '2'");
    // pg's escapeLiteral writes E'' (after a space) when backslashes need escaping.
    expect(inlineParameters('$1::text[]', [['x', 'y"z', 'b\\c']])).toBe(
      String.raw` E'{"x","y\\"z","b\\\\c"}'::text[]`,
    );
  });

  it('writes instants as pg binds them, years before 1 as BC', () => {
    // In pg's local-time form; PostgreSQL itself checks the instant in the integration test.
    expect(inlineParameters('$1', [new Date('2026-01-02T03:04:05.006Z')])).toMatch(
      /^'2026-01-0[12]T\d\d:\d\d:05\.006[+-]\d\d:\d\d'$/,
    );
    expect(inlineParameters('$1', [new Date('0001-01-01T00:00:00+01:00')])).toMatch(
      /^'000[12]-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d BC'$/,
    );
  });

  it('refuses a placeholder without a value and values it cannot quote', () => {
    expect(() => inlineParameters('$2', ['a'])).toThrow(/no value for \$2/);
    expect(() => inlineParameters('$1', [{ a: 1 }])).toThrow(/cannot inline/);
    expect(() => inlineParameters('$1', [Number.NaN])).toThrow(/cannot inline/);
  });
});

describe('ndjsonFromRows', () => {
  const rows = [
    { seq: '7', content: '{"id":"a","name":"Zoë"}' },
    { seq: '9', content: '{"id":"b"}' },
  ];

  it('writes each content and a newline, counting rows and keeping the last seq', () => {
    const page = ndjsonFromRows(rows);
    expect(page.ndjson.toString('utf8')).toBe('{"id":"a","name":"Zoë"}\n{"id":"b"}\n');
    expect(page).toMatchObject({ count: 2, lastSeq: '9' });
  });

  it('refuses content with a raw newline', () => {
    expect(() => ndjsonFromRows([{ seq: '1', content: '{"a":\n1}' }])).toThrow(/raw newline/);
  });
});

describe('mapNdjsonLines', () => {
  const page = ndjsonFromRows([
    { seq: '7', content: '{"id":"a","name":"Zoë"}' },
    { seq: '9', content: '{"id":"b"}' },
  ]);

  it('replaces each line, decoded as UTF-8, keeping the count and the cursor', () => {
    const seen: string[] = [];
    const mapped = mapNdjsonLines(page, (line) => {
      seen.push(line);
      return `{"n":${seen.length}}`;
    });
    expect(seen).toEqual(['{"id":"a","name":"Zoë"}', '{"id":"b"}']);
    expect(mapped.ndjson.toString('utf8')).toBe('{"n":1}\n{"n":2}\n');
    expect(mapped).toMatchObject({ count: 2, lastSeq: '9' });
  });

  it('refuses a page whose lines do not match its count, or a line it would break', () => {
    expect(() => mapNdjsonLines({ ...page, count: 3 }, (line) => line)).toThrow(/holds 2 lines/);
    expect(() =>
      mapNdjsonLines({ ...page, ndjson: page.ndjson.subarray(0, -1) }, (line) => line),
    ).toThrow(/ends inside a line/);
    expect(() => mapNdjsonLines(page, () => '{"a":\n1}')).toThrow(/line 1 of the page/);
  });
});

describe('CopyBinaryNdjson', () => {
  const rows: [bigint, string][] = [
    [7n, '{"resourceType":"Patient","id":"a"}'],
    [9n, `{"resourceType":"Observation","note":"${'x'.repeat(300)}"}`],
    [12n, '{"resourceType":"Patient","id":"é"}'],
  ];
  const whole = ndjsonFromCopyBinary(copyBinary(rows));
  const plain = (page: NdjsonPage) => ({ ...page, ndjson: page.ndjson.toString('utf8') });

  it('gives the same page however the output is split into chunks', () => {
    const copy = copyBinary(rows);
    for (let size = 1; size <= 40; size++) {
      const framer = new CopyBinaryNdjson();
      for (let at = 0; at < copy.length; at += size) framer.push(copy.subarray(at, at + size));
      expect(plain(framer.finish())).toEqual(plain(whole));
    }
    for (let cut = 1; cut < copy.length; cut++) {
      const framer = new CopyBinaryNdjson();
      framer.push(copy.subarray(0, cut));
      framer.push(copy.subarray(cut));
      expect(plain(framer.finish())).toEqual(plain(whole));
    }
  });

  it('refuses bytes after a trailer that arrived split across chunks', () => {
    const copy = copyBinary(rows);
    const framer = new CopyBinaryNdjson();
    framer.push(copy.subarray(0, copy.length - 1));
    expect(() =>
      framer.push(Buffer.concat([copy.subarray(copy.length - 1), Buffer.from([0])])),
    ).toThrow(/continues after its trailer/);
  });

  it('refuses output cut off before its trailer, or continuing after it', () => {
    const copy = copyBinary(rows);
    const cut = new CopyBinaryNdjson();
    cut.push(copy.subarray(0, copy.length - 2));
    expect(() => cut.finish()).toThrow(/ended before its trailer/);
    const extra = new CopyBinaryNdjson();
    expect(() => extra.push(Buffer.concat([copy, Buffer.from([0, 2])]))).toThrow(
      /continues after its trailer/,
    );
  });
});
