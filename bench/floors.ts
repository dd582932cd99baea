import { BlobServiceClient, BlockBlobClient } from '@azure/storage-blob';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';

/** Every current, not deleted version: what a system-level export without filters selects. */
export const CURRENT_ROWS = 'superseded_at IS NULL AND NOT deleted';

export interface Throughput {
  resources: number;
  bytes: number;
  seconds: number;
  resourcesPerSecond: number;
  megabytesPerSecond: number;
}

export function throughput(resources: number, bytes: number, seconds: number): Throughput {
  return {
    resources,
    bytes,
    seconds: round(seconds, 3),
    resourcesPerSecond: Math.round(resources / seconds),
    megabytesPerSecond: round(bytes / 1e6 / seconds, 1),
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

const FETCH_ROWS = 10_000;

/**
 * Streams `(type, content)` of every current resource, ordered by type then seq (the order an
 * export walks them), through a server-side cursor with large fetches; hands each fetch to
 * `onRows` and waits for it before the next.
 */
async function readCurrentRows(
  databaseUrl: string,
  onRows: (rows: [string, string][]) => Promise<void> | void,
): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(
      `DECLARE floor_rows NO SCROLL CURSOR FOR
         SELECT type, content FROM resource WHERE ${CURRENT_ROWS} ORDER BY type, seq`,
    );
    for (;;) {
      const result = await client.query<[string, string]>({
        text: `FETCH FORWARD ${FETCH_ROWS} FROM floor_rows`,
        rowMode: 'array',
      });
      if (result.rows.length === 0) break;
      await onRows(result.rows);
    }
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/**
 * Floor (a): the stored JSON of the same resources read out of PostgreSQL with nothing done to
 * it but counting its bytes. `pg-copy-streams` is not a dependency, so this is a cursor with
 * 10,000-row fetches through `pg`, the driver the server uses.
 */
export async function measureDatabaseReadFloor(databaseUrl: string): Promise<Throughput> {
  let resources = 0;
  let bytes = 0;
  const started = performance.now();
  await readCurrentRows(databaseUrl, (rows) => {
    for (const row of rows) bytes += Buffer.byteLength(row[1]) + 1;
    resources += rows.length;
  });
  return throughput(resources, bytes, (performance.now() - started) / 1000);
}

/**
 * Reference for floor (a): `COPY (...) TO STDOUT` through `psql`, counting the bytes and lines
 * it pipes out (COPY's text format escapes backslashes, so the byte count is slightly higher
 * than the JSON's). Undefined when psql is not installed.
 */
export async function measureCopyRead(databaseUrl: string): Promise<Throughput | undefined> {
  const started = performance.now();
  const child = spawn(
    'psql',
    [
      databaseUrl,
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `COPY (SELECT content FROM resource WHERE ${CURRENT_ROWS} ORDER BY type, seq) TO STDOUT`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let bytes = 0;
  let lines = 0;
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('close', (c) => resolve(c));
  });
  if (code === -1) return undefined;
  if (code !== 0) throw new Error(`psql COPY failed (${code}): ${stderr}`);
  return throughput(lines, bytes, (performance.now() - started) / 1000);
}

export interface BlobFloorOptions {
  databaseUrl: string;
  connectionString: string;
  container: string;
  blockBytes?: number;
  blocksInFlight?: number;
}

export interface FilesystemFloorOptions {
  databaseUrl: string;
  /** A folder of its own; emptied first and removed afterwards. */
  folder: string;
  /** The export's checkpoint cadence (EXPORT_CHECKPOINT_MB): an fdatasync each time. */
  checkpointBytes: number;
}

/** The filesystem sink's block size and write-behind flush (src/bulk-export/storage). */
const FILE_BLOCK_BYTES = 1024 * 1024;
const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

/**
 * Floor (c): the bytes of floor (a), read the same way, written into one local file per type
 * with the filesystem sink's durability cadence: 1 MiB writes, a background fdatasync every
 * 8 MiB, an fdatasync at each checkpoint and at each file's end, and the folder synced once its
 * files exist. What the filesystem export does minus the FHIR logic.
 */
export async function measureFilesystemWriteFloor(
  options: FilesystemFloorOptions,
): Promise<Throughput> {
  rmSync(options.folder, { recursive: true, force: true });
  mkdirSync(options.folder, { recursive: true });
  let resources = 0;
  let bytes = 0;
  let file:
    { handle: FileHandle; pending: Buffer[]; pendingBytes: number; position: number } | undefined;
  let unflushed = 0;
  let sinceCheckpoint = 0;
  let flushing: Promise<void> | undefined;

  const write = async () => {
    if (!file || file.pendingBytes === 0) return;
    const block = Buffer.concat(file.pending, file.pendingBytes);
    file.pending = [];
    file.pendingBytes = 0;
    await file.handle.write(block, 0, block.length, file.position);
    file.position += block.length;
    unflushed += block.length;
    sinceCheckpoint += block.length;
    if (unflushed >= WRITE_BEHIND_BYTES && !flushing) {
      unflushed = 0;
      const handle = file.handle;
      flushing = handle.datasync().finally(() => (flushing = undefined));
    }
    if (sinceCheckpoint >= options.checkpointBytes) {
      sinceCheckpoint = 0;
      await flushing;
      await file.handle.datasync();
    }
  };
  const close = async () => {
    if (!file) return;
    await write();
    await flushing;
    await file.handle.datasync();
    await file.handle.close();
    file = undefined;
  };

  let currentType = '';
  const started = performance.now();
  await readCurrentRows(options.databaseUrl, async (rows) => {
    for (const [type, content] of rows) {
      if (type !== currentType) {
        await close();
        currentType = type;
        const handle = await open(join(options.folder, `${type}.ndjson`), 'w');
        file = { handle, pending: [], pendingBytes: 0, position: 0 };
      }
      const line = Buffer.from(`${content}\n`);
      file!.pending.push(line);
      file!.pendingBytes += line.length;
      bytes += line.length;
      resources++;
      if (file!.pendingBytes >= FILE_BLOCK_BYTES) await write();
    }
  });
  await close();
  const folder = await open(options.folder, 'r');
  await folder.sync();
  await folder.close();
  const seconds = (performance.now() - started) / 1000;
  rmSync(options.folder, { recursive: true, force: true });
  return throughput(resources, bytes, seconds);
}

/**
 * Floor (b): the same bytes read the same way and uploaded with `@azure/storage-blob` into one
 * block blob per type (stage blocks of 4 MiB, a few in flight, commit the block list), with no
 * FHIR logic.
 */
export async function measureBlobUploadFloor(options: BlobFloorOptions): Promise<Throughput> {
  const blockBytes = options.blockBytes ?? 4 * 1024 * 1024;
  const maxInFlight = options.blocksInFlight ?? 4;
  const service = BlobServiceClient.fromConnectionString(options.connectionString);
  const container = service.getContainerClient(options.container);
  await container.createIfNotExists();

  let resources = 0;
  let bytes = 0;
  let blob: { client: BlockBlobClient; ids: string[] } | undefined;
  let pending: string[] = [];
  let pendingBytes = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;

  const stage = async () => {
    if (!blob || pendingBytes === 0) return;
    const block = Buffer.from(pending.join(''));
    pending = [];
    pendingBytes = 0;
    const id = Buffer.from(String(blob.ids.length).padStart(8, '0')).toString('base64');
    blob.ids.push(id);
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const sending: Promise<void> = blob.client
      .stageBlock(id, block, block.length)
      .then(
        () => undefined,
        (error: unknown) => {
          failure ??= error instanceof Error ? error : new Error(String(error));
        },
      )
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  };
  const commit = async () => {
    if (!blob) return;
    await stage();
    await Promise.all(inFlight);
    if (failure) throw failure;
    await blob.client.commitBlockList(blob.ids);
  };

  let currentType = '';
  const started = performance.now();
  await readCurrentRows(options.databaseUrl, async (rows) => {
    for (const [type, content] of rows) {
      if (type !== currentType) {
        await commit();
        currentType = type;
        blob = { client: container.getBlockBlobClient(`floor-b/${type}.ndjson`), ids: [] };
      }
      const line = content + '\n';
      pending.push(line);
      const length = Buffer.byteLength(line);
      pendingBytes += length;
      bytes += length;
      resources++;
      if (pendingBytes >= blockBytes) await stage();
    }
  });
  await commit();
  const seconds = (performance.now() - started) / 1000;
  await container.deleteIfExists();
  return throughput(resources, bytes, seconds);
}
