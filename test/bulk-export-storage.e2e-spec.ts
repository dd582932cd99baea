import { randomUUID } from 'node:crypto';
import { FileHandle, mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { AzureBlobSink } from '../src/bulk-export/storage/azure-blob.sink';
import {
  defaultContainerName,
  ExportLocation,
  ExportSink,
  folderPrefix,
} from '../src/bulk-export/storage/export-sink';
import { FilesystemSink } from '../src/bulk-export/storage/filesystem.sink';
import { FhirErrorCode, FhirException } from '../src/common/fhir-exception';
import {
  maxFileBytesFromMegabytes,
  RotatingNdjsonWriter,
  WriterCheckpoint,
  WrittenFile,
} from '../src/bulk-export/ndjson/rotating-ndjson.writer';
import {
  listBlobNames,
  readText,
  testBlobService,
  testStorageConnectionString,
  uniqueContainerName,
} from './support/azurite';

const SYNTHEA = join(__dirname, 'fixtures', 'synthea');

/** Real Synthea Patient resources, one per bundle. */
const syntheaPatients: Record<string, unknown>[] = readdirSync(SYNTHEA)
  .filter((name) => name.endsWith('.json'))
  .map(
    (name) =>
      JSON.parse(readFileSync(join(SYNTHEA, name), 'utf8')) as {
        entry: { resource: Record<string, unknown> }[];
      },
  )
  .flatMap((bundle) => bundle.entry.map((e) => e.resource))
  .filter((resource) => resource.resourceType === 'Patient');

/** `count` NDJSON Patient lines (about 2.5 KB each) with ids p-0, p-1, ... */
function patientLines(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => {
    const patient = syntheaPatients[(from + i) % syntheaPatients.length];
    return JSON.stringify({ ...patient, id: `p-${from + i}` }) + '\n';
  });
}

function idsOf(text: string): string[] {
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

/** 0.01 MB, as a test would set EXPORT_FILE_MAX_MB: about four Patients per file. */
const SMALL_LIMIT = maxFileBytesFromMegabytes(0.01);

/** A writer of Patient NDJSON files on `sink` (files of up to 1 MB unless told). */
function patientWriter(
  sink: ExportSink,
  location: ExportLocation,
  options: { maxFileBytes?: number; resume?: WriterCheckpoint } = {},
): RotatingNdjsonWriter {
  return new RotatingNdjsonWriter({
    sink,
    location,
    type: 'Patient',
    maxFileBytes: options.maxFileBytes ?? 1e6,
    resume: options.resume,
  });
}

function viaJson(checkpoint: WriterCheckpoint): WriterCheckpoint {
  return JSON.parse(JSON.stringify(checkpoint)) as WriterCheckpoint;
}

interface SinkUnderTest {
  label: string;
  /** Small blocks, so staging happens well before a commit. */
  make(): ExportSink;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

let fsRoot = '';

const sinks: SinkUnderTest[] = [
  {
    label: 'Azure Blob Storage (Azurite)',
    make: () =>
      new AzureBlobSink({
        account: { connectionString: testStorageConnectionString() },
        blockSizeBytes: 4096,
        maxBlocksInFlight: 3,
      }),
  },
  {
    label: 'local filesystem',
    make: () => new FilesystemSink({ root: fsRoot, blockSizeBytes: 4096, maxBlocksInFlight: 2 }),
    async setup() {
      fsRoot = await mkdtemp(join(tmpdir(), 'export-sink-'));
    },
    async teardown() {
      await rm(fsRoot, { recursive: true, force: true });
    },
  },
];

describe.each(sinks)('export storage on $label', (under) => {
  let sink: ExportSink;

  beforeAll(async () => {
    await under.setup?.();
    sink = under.make();
  });

  afterAll(async () => {
    await under.teardown?.();
  });

  async function newLocation(prefix = ''): Promise<ExportLocation> {
    const location = { container: uniqueContainerName('storage-test'), prefix };
    await sink.prepare(location);
    return location;
  }

  async function text(location: ExportLocation, name: string): Promise<string> {
    return readText(await sink.read(location, name));
  }

  /** Whether the sink can still serve the file (a gone file reads as a FHIR 404). */
  async function exists(location: ExportLocation, name: string): Promise<boolean> {
    try {
      await text(location, name);
      return true;
    } catch (error) {
      if (error instanceof FhirException && error.code === FhirErrorCode.NotFound) return false;
      throw error;
    }
  }

  function writer(location: ExportLocation, resume?: WriterCheckpoint) {
    return patientWriter(sink, location, { maxFileBytes: SMALL_LIMIT, resume });
  }

  it('rolls over to Patient-2.ndjson once Patient-1 passes the limit, never splitting a line', async () => {
    const location = await newLocation();
    const lines = patientLines(10);
    const w = writer(location);
    await w.write(lines.slice(0, 3).join(''));
    await w.write(lines.slice(3).join(''));
    const files = await w.finish();

    expect(files.map((f) => f.name)).toEqual([
      'Patient-1.ndjson',
      'Patient-2.ndjson',
      'Patient-3.ndjson',
    ]);
    expect(await exists(location, 'Patient-4.ndjson')).toBe(false);
    let next = 0;
    for (const [index, file] of files.entries()) {
      const content = await text(location, file.name);
      const expected = lines.slice(next, next + file.lines);
      expect(content).toBe(expected.join(''));
      expect(idsOf(content)).toHaveLength(file.lines);
      expect(Buffer.byteLength(content)).toBe(file.bytes);
      if (index < files.length - 1) {
        // Closed files passed the limit, by no more than their last line.
        const last = Buffer.byteLength(expected[expected.length - 1]);
        expect(file.bytes).toBeGreaterThan(SMALL_LIMIT);
        expect(file.bytes - last).toBeLessThanOrEqual(SMALL_LIMIT);
      }
      next += file.lines;
    }
    expect(next).toBe(lines.length);
  });

  it('writes a shared-container export under its own folder and deletes only that folder', async () => {
    const at = new Date('2026-11-26T04:05:00Z');
    const mine = await newLocation(folderPrefix(randomUUID(), at));
    const other = { container: mine.container, prefix: folderPrefix(randomUUID(), at) };
    await sink.prepare(other);
    for (const location of [mine, other]) {
      const w = writer(location);
      await w.write(patientLines(2).join(''));
      await w.finish();
    }

    expect(mine.prefix).toMatch(/^20261126T040500-[0-9a-f-]{36}\/$/);
    expect(await text(mine, 'Patient-1.ndjson')).toBe(patientLines(2).join(''));
    await sink.deleteAll(mine);

    expect(await exists(mine, 'Patient-1.ndjson')).toBe(false);
    expect(await exists(other, 'Patient-1.ndjson')).toBe(true);
  });

  it('deletes a whole default container, and tolerates deleting it twice', async () => {
    const location = { container: defaultContainerName(randomUUID(), new Date()), prefix: '' };
    await sink.prepare(location);
    await sink.prepare(location);
    const w = writer(location);
    await w.write(patientLines(6).join(''));
    await w.finish();

    await sink.deleteAll(location);
    await sink.deleteAll(location);
    expect(await exists(location, 'Patient-1.ndjson')).toBe(false);
    expect(await exists(location, 'Patient-2.ndjson')).toBe(false);
  });

  it('resumes after a crash with every line exactly once', async () => {
    const location = await newLocation();
    const lines = patientLines(20);
    const first = writer(location);
    await first.write(lines.slice(0, 6).join(''));
    const saved = viaJson(await first.checkpoint());
    // Made durable in storage, but the worker dies before the job row records it...
    await first.write(lines.slice(6, 11).join(''));
    await first.checkpoint();
    // ...and these were only staged or buffered.
    await first.write(lines.slice(11, 14).join(''));
    await first.abort();

    // The job row still holds `saved`, so the new worker re-reads from line 6.
    const resumed = writer(location, saved);
    await resumed.write(lines.slice(6, 15).join(''));
    await resumed.write(lines.slice(15).join(''));
    const files = await resumed.finish();

    const ids: string[] = [];
    for (const file of files) {
      const fileIds = idsOf(await text(location, file.name));
      expect(fileIds).toHaveLength(file.lines);
      ids.push(...fileIds);
    }
    expect(ids).toEqual(lines.map((_, i) => `p-${i}`));
    expect(files.reduce((sum, f) => sum + f.lines, 0)).toBe(20);
  });

  it('cuts a resumed file back to its checkpoint even when nothing more is written to it', async () => {
    const location = await newLocation();
    const first = writer(location);
    await first.write(patientLines(2).join(''));
    const saved = viaJson(await first.checkpoint());
    await first.write(patientLines(1, 2).join(''));
    await first.checkpoint();
    await first.abort();
    expect(idsOf(await text(location, 'Patient-1.ndjson'))).toEqual(['p-0', 'p-1', 'p-2']);

    const files = await writer(location, saved).finish();

    expect(files.map((f) => [f.name, f.lines])).toEqual([['Patient-1.ndjson', 2]]);
    expect(idsOf(await text(location, 'Patient-1.ndjson'))).toEqual(['p-0', 'p-1']);
  });

  it('produces the same files with or without a crash', async () => {
    const lines = patientLines(13);
    const plain = await newLocation();
    const straight = writer(plain);
    await straight.write(lines.join(''));
    const expected = await straight.finish();

    const crashed = await newLocation();
    const first = writer(crashed);
    await first.write(lines.slice(0, 5).join(''));
    const saved = viaJson(await first.checkpoint());
    await first.write(lines.slice(5, 9).join(''));
    await first.abort();
    const resumed = writer(crashed, saved);
    await resumed.write(lines.slice(5).join(''));
    const files: WrittenFile[] = await resumed.finish();

    expect(files).toEqual(expected);
    for (const file of files)
      expect(await text(crashed, file.name)).toBe(await text(plain, file.name));
  });
});

describe('AzureBlobSink specifics', () => {
  const service = testBlobService();

  function sink(options: Partial<ConstructorParameters<typeof AzureBlobSink>[0]> = {}) {
    return new AzureBlobSink({
      account: { connectionString: testStorageConnectionString() },
      ...options,
    });
  }

  async function newLocation(target: ExportSink): Promise<ExportLocation> {
    const location = { container: uniqueContainerName('azure-test'), prefix: '' };
    await target.prepare(location);
    return location;
  }

  afterEach(() => jest.restoreAllMocks());

  it('stores NDJSON files with content type application/fhir+ndjson', async () => {
    const target = sink();
    const location = await newLocation(target);
    const w = patientWriter(target, location);
    await w.write(patientLines(3).join(''));
    await w.finish();

    const properties = await service
      .getContainerClient(location.container)
      .getBlobClient('Patient-1.ndjson')
      .getProperties();
    expect(properties.contentType).toBe('application/fhir+ndjson');
    expect(await listBlobNames(location.container)).toEqual(['Patient-1.ndjson']);
  });

  it('checkpoints the committed block list, so a resumed file keeps exactly those blocks', async () => {
    const target = sink({ blockSizeBytes: 1000 });
    const location = await newLocation(target);
    const file = await target.openFile(location, 'Patient-1.ndjson');
    await file.append(Buffer.from(patientLines(2).join('')));
    const checkpoint = await file.commit();
    await file.abort();

    const blocks = await service
      .getContainerClient(location.container)
      .getBlockBlobClient('Patient-1.ndjson')
      .getBlockList('committed');
    expect(checkpoint.kind).toBe('azure-block-blob');
    expect(checkpoint.kind === 'azure-block-blob' && checkpoint.blockIds).toEqual(
      blocks.committedBlocks?.map((b) => b.name),
    );
    expect(checkpoint.bytes).toBe(blocks.blobContentLength);
  });

  it('hands out a SAS URL that downloads the file', async () => {
    const target = sink();
    const location = await newLocation(target);
    const w = patientWriter(target, location);
    await w.write(patientLines(2).join(''));
    await w.finish();

    const url = await target.sasUrl(location, 'Patient-1.ndjson', 600);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(patientLines(2).join(''));
    expect((await fetch(url.split('?')[0])).status).not.toBe(200);
  });

  /**
   * Resets the connection of the first `failures` block uploads (Put Block), at the transport,
   * below the SDK's retry policy, as a flaky network would.
   */
  function failBlockUploads(failures: number): { attempts: () => number } {
    let attempts = 0;
    const original = http.request.bind(http) as (...args: unknown[]) => http.ClientRequest;
    jest.spyOn(http, 'request').mockImplementation((...args: unknown[]) => {
      const request = original(...args);
      const options = args[0] as http.RequestOptions;
      if (typeof options === 'object' && /[?&]comp=block(&|$)/.test(options.path ?? '')) {
        attempts += 1;
        if (attempts <= failures) {
          request.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        }
      }
      return request;
    });
    return { attempts: () => attempts };
  }

  it('surfaces a storage fault as a rejected checkpoint after the configured retries', async () => {
    const target = sink({ retry: { maxTries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 10 } });
    const location = await newLocation(target);
    const w = patientWriter(target, location);
    const fault = failBlockUploads(Infinity);
    await w.write(patientLines(3).join(''));

    await expect(w.checkpoint()).rejects.toThrow(/socket hang up/);
    expect(fault.attempts()).toBe(3);
    await expect(w.checkpoint()).rejects.toThrow(/socket hang up/);
    jest.restoreAllMocks();
    expect(await listBlobNames(location.container)).toEqual([]);
  });

  it('rides out a transient storage fault through retries', async () => {
    const target = sink({ retry: { maxTries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 10 } });
    const location = await newLocation(target);
    const w = patientWriter(target, location);
    const fault = failBlockUploads(2);
    await w.write(patientLines(3).join(''));
    await w.finish();

    expect(fault.attempts()).toBe(3);
    const blob = service.getContainerClient(location.container).getBlobClient('Patient-1.ndjson');
    expect(await readText((await blob.download()).readableStreamBody!)).toBe(
      patientLines(3).join(''),
    );
  });
});

describe('FilesystemSink specifics', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'export-fs-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lays files out as {root}/{container}/{prefix}{file}', async () => {
    const sink = new FilesystemSink({ root });
    const location = {
      container: 'shared',
      prefix: folderPrefix('job-1', new Date('2026-01-02T03:04:05Z')),
    };
    await sink.prepare(location);
    const w = patientWriter(sink, location, { maxFileBytes: SMALL_LIMIT });
    await w.write(patientLines(6).join(''));
    await w.finish();

    const folder = join(root, 'shared', '20260102T030405-job-1');
    expect((await readdir(folder)).sort()).toEqual(['Patient-1.ndjson', 'Patient-2.ndjson']);
    const all =
      (await readFile(join(folder, 'Patient-1.ndjson'), 'utf8')) +
      (await readFile(join(folder, 'Patient-2.ndjson'), 'utf8'));
    expect(all).toBe(patientLines(6).join(''));
  });

  it('refuses to resume a file that lost bytes its checkpoint called durable', async () => {
    const sink = new FilesystemSink({ root });
    const location = { container: 'lossy', prefix: '' };
    await sink.prepare(location);
    const w = patientWriter(sink, location);
    await w.write(patientLines(2).join(''));
    const saved = await w.checkpoint();
    await w.abort();
    await truncate(join(root, 'lossy', 'Patient-1.ndjson'), 10);

    const resumed = patientWriter(sink, location, { resume: saved });
    await expect(resumed.write(patientLines(1, 2).join(''))).rejects.toThrow(/fewer than/);
  });

  it('fails the commit when a background flush failed, though the final fsync succeeds', async () => {
    const sink = new FilesystemSink({ root, blockSizeBytes: 1024 * 1024 });
    const location = { container: 'flush-failure', prefix: '' };
    await sink.prepare(location);
    const file = await sink.openFile(location, 'Patient-1.ndjson');
    // The disk, not our code, fails: the first fsync reports an I/O error, later ones succeed
    // (as Linux does once it has dropped the pages it could not write).
    const handle = (file as unknown as { handle: FileHandle }).handle;
    const datasync = jest
      .spyOn(handle, 'datasync')
      .mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    // More than the write-behind threshold (8 MiB), so a background flush starts.
    for (let i = 0; i < 10; i++) await file.append(Buffer.alloc(1024 * 1024, 0x20));
    // With two writes in flight, the tenth append returns only after the eighth block is
    // written: the flush has started, and it is the one that failed.
    expect(datasync).toHaveBeenCalledTimes(1);

    await expect(file.commit()).rejects.toThrow(/EIO/);
    await expect(file.commit()).rejects.toThrow(/EIO/);
    // The commits did not even try: no later fsync can vouch for the lost pages.
    expect(datasync).toHaveBeenCalledTimes(1);
    await file.abort();
  });
});
