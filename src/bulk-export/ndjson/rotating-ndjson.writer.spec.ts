import {
  ExportFileWriter,
  ExportLocation,
  ExportSink,
  FileCheckpoint,
} from '../storage/export-sink';
import {
  maxFileBytesFromMegabytes,
  RotatingNdjsonWriter,
  WriterCheckpoint,
} from './rotating-ndjson.writer';

/**
 * Keeps only committed bytes as "durable", so dropping a writer behaves like a killed worker:
 * whatever was appended after the last commit is gone.
 */
class MemorySink extends ExportSink {
  readonly durable = new Map<string, Buffer>();

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }
  readConfiguration(): Promise<never> {
    return Promise.reject(new Error('not used by the writer'));
  }

  failure(): undefined {
    return undefined;
  }

  openFile(
    location: ExportLocation,
    fileName: string,
    resume?: FileCheckpoint,
  ): Promise<ExportFileWriter> {
    const key = location.prefix + fileName;
    let base: Buffer = Buffer.alloc(0);
    if (resume) {
      const stored = this.durable.get(key);
      if (!stored || stored.length < resume.bytes) throw new Error(`${key} lost durable bytes`);
      base = stored.subarray(0, resume.bytes);
    }
    let pending: Buffer[] = [];
    const durable = this.durable;
    const writer: ExportFileWriter = {
      fileName,
      get bytes() {
        return base.length + pending.reduce((sum, chunk) => sum + chunk.length, 0);
      },
      append(chunk) {
        pending.push(Buffer.from(chunk));
        return Promise.resolve();
      },
      commit() {
        base = Buffer.concat([base, ...pending]);
        pending = [];
        durable.set(key, base);
        return Promise.resolve({ kind: 'filesystem', bytes: base.length });
      },
      close() {
        return writer.commit();
      },
      abort() {
        pending = [];
        return Promise.resolve();
      },
    };
    return Promise.resolve(writer);
  }

  read(): Promise<NodeJS.ReadableStream> {
    return Promise.reject(new Error('not used'));
  }

  size(location: ExportLocation, fileName: string): Promise<number> {
    return Promise.resolve(this.durable.get(location.prefix + fileName)?.length ?? 0);
  }

  exists(location: ExportLocation, fileName: string): Promise<boolean> {
    return Promise.resolve(this.durable.has(location.prefix + fileName));
  }

  deleteAll(): Promise<void> {
    this.durable.clear();
    return Promise.resolve();
  }

  text(fileName: string): string {
    return this.durable.get(fileName)?.toString('utf8') ?? '';
  }
}

const location: ExportLocation = { container: 'export-test', prefix: '' };

/** A line of exactly `bytes` bytes (newline included), numbered for identification. */
function patientLine(n: number, bytes = 30): string {
  const head = `{"id":"p${n}","x":"`;
  const tail = '"}\n';
  const padding = bytes - head.length - tail.length;
  if (padding < 0) throw new Error('line too short for its content');
  return head + 'x'.repeat(padding) + tail;
}

function ids(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

function writer(sink: MemorySink, maxFileBytes: number, resume?: WriterCheckpoint) {
  return new RotatingNdjsonWriter({ sink, location, type: 'Patient', maxFileBytes, resume });
}

/** Checkpoints go through the job row as JSON. */
function viaJson(checkpoint: WriterCheckpoint): WriterCheckpoint {
  return JSON.parse(JSON.stringify(checkpoint)) as WriterCheckpoint;
}

describe('RotatingNdjsonWriter', () => {
  it('keeps every line in Patient-1.ndjson while the file stays within the limit', async () => {
    const sink = new MemorySink();
    const w = writer(sink, 100);
    await w.write([patientLine(1), patientLine(2), patientLine(3)].join(''));

    expect(await w.finish()).toEqual([
      { type: 'Patient', name: 'Patient-1.ndjson', lines: 3, bytes: 90 },
    ]);
    expect(ids(sink.text('Patient-1.ndjson'))).toEqual(['p1', 'p2', 'p3']);
  });

  it('rolls over to Patient-2.ndjson once Patient-1 passes the limit', async () => {
    const sink = new MemorySink();
    const w = writer(sink, 100);
    await w.write([1, 2, 3, 4, 5, 6].map((n) => patientLine(n)).join(''));
    // The runner's checkpoint cadence reads this running total across files.
    expect(w.bytes).toBe(180);

    // 3 lines make 90 bytes (within 100); the 4th takes the file to 120 and closes it.
    expect(await w.finish()).toEqual([
      { type: 'Patient', name: 'Patient-1.ndjson', lines: 4, bytes: 120 },
      { type: 'Patient', name: 'Patient-2.ndjson', lines: 2, bytes: 60 },
    ]);
    expect(ids(sink.text('Patient-1.ndjson'))).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(ids(sink.text('Patient-2.ndjson'))).toEqual(['p5', 'p6']);
  });

  it('does not roll over a file that reaches the limit exactly until a line passes it', async () => {
    const sink = new MemorySink();
    const w = writer(sink, 60);
    await w.write([1, 2, 3].map((n) => patientLine(n)).join(''));

    expect((await w.finish()).map((f) => f.lines)).toEqual([3]);
  });

  it('puts a line longer than the limit whole into a file of its own', async () => {
    const sink = new MemorySink();
    const w = writer(sink, 50);
    const long = patientLine(2, 200);
    await w.write([patientLine(1), long, patientLine(3)].join(''));

    const files = await w.finish();
    expect(files.map((f) => [f.name, f.lines, f.bytes])).toEqual([
      ['Patient-1.ndjson', 2, 230],
      ['Patient-2.ndjson', 1, 30],
    ]);
    expect(sink.text('Patient-1.ndjson')).toBe(patientLine(1) + long);
  });

  it('splits at the same lines whether they come one by one or many at a time', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => patientLine(i, 30 + (i % 7) * 11));
    const oneByOne = new MemorySink();
    const single = writer(oneByOne, 300);
    for (const line of lines) await single.write(line);
    const batched = new MemorySink();
    const batch = writer(batched, 300);
    for (let i = 0; i < lines.length; i += 13) await batch.write(lines.slice(i, i + 13).join(''));

    const expected = await single.finish();
    expect(await batch.finish()).toEqual(expected);
    for (const file of expected) expect(batched.text(file.name)).toBe(oneByOne.text(file.name));
    expect(expected.length).toBeGreaterThan(3);
  });

  it('measures the limit in UTF-8 bytes, not in characters', async () => {
    const sink = new MemorySink();
    const w = writer(sink, 30);
    // 13 UTF-16 units but 19 bytes: two lines pass 30 bytes, though not 30 characters.
    const line = '{"😀😀😀":1}\n';
    expect([line.length, Buffer.byteLength(line)]).toEqual([13, 19]);
    await w.write(line + line + line);
    expect(w.bytes).toBe(Buffer.byteLength(line) * 3);

    const files = await w.finish();
    expect(files.map((f) => f.lines)).toEqual([2, 1]);
    expect(files[0].bytes).toBe(Buffer.byteLength(line) * 2);
    expect(sink.text('Patient-1.ndjson')).toBe(line + line);
  });

  it('splits a Buffer at the same lines as the same text', async () => {
    const text = Array.from({ length: 40 }, (_, i) => patientLine(i, 30 + (i % 5) * 13)).join('');
    const fromText = new MemorySink();
    const a = writer(fromText, 200);
    await a.write(text);
    const fromBuffer = new MemorySink();
    const b = writer(fromBuffer, 200);
    await b.write(Buffer.from(text));

    const expected = await a.finish();
    expect(await b.finish()).toEqual(expected);
    for (const file of expected) expect(fromBuffer.text(file.name)).toBe(fromText.text(file.name));
  });

  it('produces no file for a type without lines', async () => {
    const sink = new MemorySink();
    const w = writer(sink, 100);
    await w.write('');

    expect(await w.finish()).toEqual([]);
    expect(sink.durable.size).toBe(0);
  });

  it('rejects a line without its trailing newline', async () => {
    const w = writer(new MemorySink(), 100);
    await expect(w.write('{"resourceType":"Patient"}')).rejects.toThrow(/must end with/);
    await expect(w.write(Buffer.from('{}'))).rejects.toThrow(/must end with/);
  });

  it('makes every written line durable at a checkpoint', async () => {
    const sink = new MemorySink();
    const w = writer(sink, 100);
    await w.write([1, 2, 3, 4, 5].map((n) => patientLine(n)).join(''));

    const checkpoint = await w.checkpoint();
    expect(checkpoint).toEqual(viaJson(checkpoint));
    expect(checkpoint).toMatchObject({
      fileNumber: 2,
      files: [{ name: 'Patient-1.ndjson', lines: 4, bytes: 120 }],
      current: { name: 'Patient-2.ndjson', lines: 1, bytes: 30, file: { bytes: 30 } },
    });
    expect(ids(sink.text('Patient-2.ndjson'))).toEqual(['p5']);
  });

  it('resumes from a checkpoint without losing or repeating a line', async () => {
    const sink = new MemorySink();
    const lines = Array.from({ length: 20 }, (_, i) => patientLine(i));
    const first = writer(sink, 100);
    await first.write(lines.slice(0, 6).join(''));
    const saved = viaJson(await first.checkpoint());
    // Written but never checkpointed: the worker dies here.
    await first.write(lines.slice(6, 9).join(''));

    const resumed = writer(sink, 100, saved);
    await resumed.write(lines.slice(6).join(''));
    const files = await resumed.finish();

    const all = files.flatMap((file) => ids(sink.text(file.name)));
    expect(all).toEqual(lines.map((_, i) => `p${i}`));
    expect(files.map((f) => f.lines)).toEqual([4, 4, 4, 4, 4]);
  });

  it('resumes correctly when the dead worker had rolled over and committed past the checkpoint', async () => {
    const sink = new MemorySink();
    const lines = Array.from({ length: 12 }, (_, i) => patientLine(i));
    const first = writer(sink, 100);
    await first.write(lines.slice(0, 2).join(''));
    const saved = viaJson(await first.checkpoint());
    // Committed to storage (Patient-1 closed, Patient-2 committed) but never saved in the job row.
    await first.write(lines.slice(2, 7).join(''));
    await first.checkpoint();

    const resumed = writer(sink, 100, saved);
    await resumed.write(lines.slice(2).join(''));
    const files = await resumed.finish();

    expect(files.map((f) => [f.name, f.lines])).toEqual([
      ['Patient-1.ndjson', 4],
      ['Patient-2.ndjson', 4],
      ['Patient-3.ndjson', 4],
    ]);
    const all = files.flatMap((file) => ids(sink.text(file.name)));
    expect(all).toEqual(lines.map((_, i) => `p${i}`));
  });

  it('trims a resumed file back to its checkpoint even when nothing more is written', async () => {
    const sink = new MemorySink();
    const first = writer(sink, 1000);
    await first.write([patientLine(1), patientLine(2)].join(''));
    const saved = viaJson(await first.checkpoint());
    await first.write(patientLine(3));
    await first.checkpoint();

    const files = await writer(sink, 1000, saved).finish();

    expect(files).toEqual([{ type: 'Patient', name: 'Patient-1.ndjson', lines: 2, bytes: 60 }]);
    expect(ids(sink.text('Patient-1.ndjson'))).toEqual(['p1', 'p2']);
  });

  it('closes a resumed file already past a (since lowered) limit after one more line', async () => {
    const sink = new MemorySink();
    const lines = Array.from({ length: 6 }, (_, i) => patientLine(i));
    const first = writer(sink, 1000);
    await first.write(lines.slice(0, 3).join(''));
    const saved = viaJson(await first.checkpoint());

    const resumed = writer(sink, 50, saved);
    await resumed.write(lines.slice(3).join(''));

    expect((await resumed.finish()).map((f) => [f.name, f.lines, f.bytes])).toEqual([
      ['Patient-1.ndjson', 4, 120],
      ['Patient-2.ndjson', 2, 60],
    ]);
  });

  it('refuses a checkpoint of another resource type', () => {
    const saved: WriterCheckpoint = {
      type: 'Observation',
      fileNumber: 0,
      files: [],
      current: null,
    };
    expect(() => writer(new MemorySink(), 100, saved)).toThrow(/Observation/);
  });

  it('refuses writes after finish', async () => {
    const w = writer(new MemorySink(), 100);
    await w.finish();
    await expect(w.write(patientLine(1))).rejects.toThrow(/already finished/);
  });
});

describe('maxFileBytesFromMegabytes', () => {
  it('reads EXPORT_FILE_MAX_MB as MiB, fractions included', () => {
    expect(maxFileBytesFromMegabytes(64)).toBe(64 * 1024 * 1024);
    expect(maxFileBytesFromMegabytes(0.01)).toBe(10485);
  });
});
