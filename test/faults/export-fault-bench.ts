import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../../src/config/app-config';
import type { OperationOutcome } from '../../src/common/operation-outcome';
import type { ExportJobEntity } from '../../src/bulk-export/job/export-job.entity';
import { ResourceRepository } from '../../src/resources/resource.repository';
import { observationOf, paddedPatients } from '../support/export-factories';
import {
  currentContentByType,
  downloadRaw,
  exportIdOf,
  expectOperationOutcome,
  jobRow,
  kickOff,
  Manifest,
  parseBody,
  store,
  useExportApp,
} from '../support/export-helpers';
import {
  PrivatePostgres,
  PrivateRedis,
  startPrivatePostgres,
  startPrivateRedis,
} from '../support/private-services';
import { FaultyStorage, startFaultyStorage } from '../support/storage-fault-proxy';
import { killAllWorkers, spawnWorker, WorkerProcess } from '../support/worker-process';
import { waitFor } from '../support/export-spies';
import { api } from '../support/test-app';

/*
 * What the export fault matrix shares: a private PostgreSQL, Redis and Azurite (behind a fault
 * proxy) that the tests may stop, restart or break; an in-process API (ROLE=api) the test polls;
 * worker processes from dist/ that the test kills, stops and signals; and the check that an
 * export equals the database.
 */

/** Every test exports these types: two, so a fault can land in the first or the second. */
export const EXPORT_PATH = '/$export?_type=Observation,Patient';
export const TYPES = ['Observation', 'Patient'];

/**
 * Worker settings that spread a few hundred resources over many pages, a checkpoint per page
 * and several files per type, so faults land mid-file; and retry bounds short enough for a test.
 */
export const WORKER_ENV: Record<string, string> = {
  EXPORT_PAGE_SIZE: '25',
  EXPORT_CHECKPOINT_MB: '0.001',
  EXPORT_FILE_MAX_MB: '0.05',
  // A dead or frozen worker's job is handed over this long after its last lock renewal.
  EXPORT_LOCK_MS: '1500',
  EXPORT_REQUEUE_INTERVAL_MS: '500',
  EXPORT_RETRY_DELAY_MS: '200',
  EXPORT_RETRY_MAX_DELAY_MS: '1000',
  EXPORT_RETRY_FOR_MS: '30000',
  // The SDK gives up on a failing request quickly, so the run's own retries are what is tested.
  STORAGE_MAX_TRIES: '2',
  STORAGE_RETRY_DELAY_MS: '100',
  // A storage request that never answers is given up quickly and retried.
  STORAGE_REQUEST_TIMEOUT_MS: '1500',
  SHUTDOWN_TIMEOUT_MS: '5000',
  DEPENDENCY_TIMEOUT_MS: '3000',
};

/** Added to every storage request of the workers: an export of ~800 resources takes ~5 s. */
export const STORAGE_LATENCY_MS = 30;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** mulberry32: a tiny seeded PRNG, so "random" fault points are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultBench {
  readonly app: INestApplication;
  readonly config: AppConfig;
  readonly pg: PrivatePostgres;
  readonly redis: PrivateRedis;
  readonly storage: FaultyStorage;
  /** What a process of the deployment needs to reach this bench's services. */
  serviceEnv(): Record<string, string>;
  /** A worker process on the bench's services, storage through the proxy; `env` overrides. */
  worker(env?: Record<string, string>): WorkerProcess;
}

/**
 * Registers the hooks of a fault-matrix describe: private services before the app boots, the
 * in-process API on them, and after each test every process killed and every fault undone, so
 * the next test starts on running services with an empty queue.
 */
export function useFaultBench(): FaultBench {
  let pg: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;
  let storage: FaultyStorage | undefined;
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the private ${what} starts in beforeAll`);
    return value;
  };

  // Registered before useExportApp: the services must run before the app boots.
  beforeAll(async () => {
    await Promise.all([
      startPrivatePostgres().then((s) => (pg = s)),
      startPrivateRedis().then((s) => (redis = s)),
      startFaultyStorage().then((s) => (storage = s)),
    ]);
  });

  const t = useExportApp(() => ({
    ROLE: 'api',
    DATABASE_URL: started(pg, 'PostgreSQL').url,
    REDIS_URL: started(redis, 'Redis').url,
    // The API reads files straight from Azurite: only the workers see storage faults.
    AZURE_STORAGE_CONNECTION_STRING: started(storage, 'Azurite').directConnectionString,
    DEPENDENCY_TIMEOUT_MS: '3000',
  }));

  // The app's Redis clients before the test; after a Redis restart the test waits for as many.
  let redisClients = 0;
  beforeEach(async () => {
    redisClients = await started(redis, 'Redis').connectedClients();
  });

  afterEach(async () => {
    await killAllWorkers();
    await storage?.proxy.reset();
    await Promise.all([pg?.start(), redis?.start()]);
    await redis?.waitForClients(redisClients);
    await redis?.flushAll();
  });

  // After useExportApp's: jest-circus runs afterAll hooks in declaration order, so the app
  // closes while its services still answer.
  afterAll(async () => {
    await killAllWorkers();
    await Promise.all([pg?.destroy(), redis?.destroy(), storage?.destroy()]);
  });

  const serviceEnv = () => ({
    DATABASE_URL: started(pg, 'PostgreSQL').url,
    REDIS_URL: started(redis, 'Redis').url,
    QUEUE_PREFIX: t.config.QUEUE_PREFIX,
    AZURE_STORAGE_CONNECTION_STRING: started(storage, 'Azurite').directConnectionString,
  });

  return {
    get app() {
      return t.app;
    },
    get config() {
      return t.config;
    },
    get pg() {
      return started(pg, 'PostgreSQL');
    },
    get redis() {
      return started(redis, 'Redis');
    },
    get storage() {
      return started(storage, 'Azurite');
    },
    serviceEnv,
    worker(env = {}) {
      return spawnWorker({
        ...serviceEnv(),
        AZURE_STORAGE_CONNECTION_STRING: started(storage, 'Azurite').proxy.connectionString,
        ...WORKER_ENV,
        ...env,
      });
    },
  };
}

/**
 * `patients` padded Patients with an Observation each; then a few Patients get a second
 * version and a few Observations are deleted, so the export must pick current versions only.
 */
export async function seed(b: FaultBench, patients: number): Promise<void> {
  const repository = b.app.get(ResourceRepository);
  const stored = paddedPatients(patients);
  // One multi-row insert per chunk (the transaction Bundle path): seeding stays well under a second.
  for (let start = 0; start < patients; start += 500) {
    const chunk = stored.slice(start, start + 500);
    const resources = [...chunk, ...chunk.map((p) => observationOf(p.id as string))];
    await repository.inTransaction((session) =>
      session.createMany(resources.map((resource) => ({ resource, id: resource.id }))),
    );
  }
  await store(
    b.app,
    stored.filter((_, i) => i % 20 === 0).map((p) => ({ ...p, gender: 'other' })),
  );
  const observations = await b.app
    .get(DataSource)
    .query<{ id: string }[]>(
      `SELECT id FROM resource WHERE type = 'Observation' AND superseded_at IS NULL ORDER BY seq`,
    );
  await repository.inTransaction(async (session) => {
    for (const { id } of observations.filter((_, i) => i % 25 === 0)) {
      await session.delete('Observation', id);
    }
  });
}

/** Kicks off the export every test runs. */
export async function startExport(
  b: FaultBench,
): Promise<{ statusPath: string; exportId: string }> {
  const statusPath = await kickOff(b.app, EXPORT_PATH);
  return { statusPath, exportId: exportIdOf(statusPath) };
}

export function row(b: FaultBench, exportId: string): Promise<ExportJobEntity> {
  return jobRow(b.app, exportId);
}

/** The last few KB of each process's output without Nest's start-up lines, for failure messages. */
export function outputs(processes: WorkerProcess[]): string {
  const noise = /"context":"(InstanceLoader|NestFactory|RoutesResolver|RouterExplorer)"/;
  return processes
    .map((p) => {
      const lines = p
        .output()
        .split('\n')
        .filter((line) => !noise.test(line));
      const state = p.isRunning() ? '' : ' (exited)';
      return `--- process ${p.pid}${state}:\n${lines.join('\n').slice(-3000)}`;
    })
    .join('\n');
}

/**
 * Waits until the export has durably written at least `exported` resources and still runs:
 * a fault injected then lands mid-export. Fails when the export ended first (the data set is
 * then too small for the test to mean anything).
 */
export async function waitForExported(
  b: FaultBench,
  exportId: string,
  exported: number,
  processes: WorkerProcess[],
): Promise<ExportJobEntity> {
  return waitFor(
    async () => {
      const job = await row(b, exportId);
      if (job.status !== 'queued' && job.status !== 'running') {
        throw new Error(
          `the export is ${job.status} before ${exported} resources were exported: ${JSON.stringify(job.error)}\n${outputs(processes)}`,
        );
      }
      return (job.progress.exported ?? 0) >= exported && job.status === 'running' && job;
    },
    `the export to pass ${exported} resources`,
    () => outputs(processes),
  );
}

/**
 * Polls the status URL until it stops answering 202 (a client would: the contract says no
 * export stays at 202 forever). On time-out the error carries the job row, the last
 * X-Progress and the processes' output.
 */
export async function finish(
  b: FaultBench,
  statusPath: string,
  processes: WorkerProcess[],
  timeoutMs = 60_000,
): Promise<request.Response> {
  const deadline = Date.now() + timeoutMs;
  let progress: unknown;
  for (;;) {
    const res = await api(b.app).get(statusPath);
    // 503: the API cannot read the job while PostgreSQL is down; the client comes back.
    if (res.status !== 202 && res.status !== 503) return res;
    progress = res.headers['x-progress'] ?? progress;
    if (Date.now() > deadline) {
      const job = await row(b, exportIdOf(statusPath)).catch(() => undefined);
      throw new Error(
        `export ${statusPath} still unfinished after ${timeoutMs} ms (last status ${res.status}, ` +
          `X-Progress ${JSON.stringify(progress)}, row ${JSON.stringify(
            job && { status: job.status, progress: job.progress, error: job.error },
          )})\n${outputs(processes)}`,
      );
    }
    await sleep(100);
  }
}

/** X-Progress values the status URL answered while it ran, for "retrying" checks. */
export function watchProgress(
  b: FaultBench,
  statusPath: string,
): { values: string[]; stop(): Promise<string[]> } {
  const values: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const res = await api(b.app)
        .get(statusPath)
        .catch(() => undefined);
      const value = res?.headers['x-progress'];
      if (typeof value === 'string' && values[values.length - 1] !== value) values.push(value);
      await sleep(50);
    }
  })();
  return {
    values,
    async stop() {
      running = false;
      await loop;
      return values;
    },
  };
}

/** An output file as a client downloads it. */
export type ReadFile = (url: string) => Promise<{ status: number; text: string }>;

/** Downloads through the in-process API. */
export function readThroughApp(b: FaultBench): ReadFile {
  return async (url) => {
    const res = await downloadRaw(b.app, url);
    return { status: res.status, text: res.body.toString('utf8') };
  };
}

interface TypeSummary {
  exported: number;
  duplicates: number;
  missing: number;
  unexpected: number;
}

/**
 * The export equals the database: every current, not deleted resource of each type exactly
 * once, byte for byte as stored; every file downloads, holds the count the manifest gives it,
 * and is whole NDJSON lines of its type; nothing else was exported; and storage holds no file
 * beside the manifest's (a dead run's leftovers).
 */
export async function expectExactExport(
  b: FaultBench,
  res: request.Response,
  exportId: string,
  read: ReadFile = readThroughApp(b),
): Promise<Manifest> {
  expect({ status: res.status, body: res.status === 200 ? 'manifest' : parseBody(res) }).toEqual({
    status: 200,
    body: 'manifest',
  });
  const manifest = res.body as Manifest;
  const problems: string[] = [];
  const exported = new Map<string, string[]>();
  for (const entry of manifest.output) {
    const file = await read(entry.url);
    const name = new URL(entry.url).pathname.split('/').pop() ?? entry.url;
    if (file.status !== 200) {
      problems.push(`${name} answered ${file.status}`);
      continue;
    }
    if (file.text !== '' && !file.text.endsWith('\n')) problems.push(`${name} ends mid-line`);
    const lines = file.text === '' ? [] : file.text.replace(/\n$/, '').split('\n');
    if (lines.length !== entry.count) {
      problems.push(`${name} holds ${lines.length} lines, the manifest says ${entry.count}`);
    }
    for (const line of lines) {
      let type: unknown;
      try {
        type = (JSON.parse(line) as { resourceType?: unknown }).resourceType;
      } catch {
        type = undefined;
      }
      if (type !== entry.type) problems.push(`${name} has a line that is not a ${entry.type}`);
    }
    exported.set(entry.type, [...(exported.get(entry.type) ?? []), ...lines]);
  }

  const expected = await currentContentByType(b.app);
  const summarize = (lines: string[], truth: string[]): TypeSummary => {
    const wanted = new Set(truth);
    const seen = new Set<string>();
    let duplicates = 0;
    for (const line of lines) {
      if (seen.has(line)) duplicates += 1;
      seen.add(line);
    }
    return {
      exported: lines.length,
      duplicates,
      missing: truth.filter((line) => !seen.has(line)).length,
      unexpected: [...seen].filter((line) => !wanted.has(line)).length,
    };
  };
  const types = [...new Set([...exported.keys(), ...TYPES])].sort();
  expect({
    problems: problems.slice(0, 20),
    types: Object.fromEntries(
      types.map((type) => [
        type,
        summarize(exported.get(type) ?? [], TYPES.includes(type) ? (expected.get(type) ?? []) : []),
      ]),
    ),
    errorFiles: manifest.error,
  }).toEqual({
    problems: [],
    types: Object.fromEntries(
      TYPES.map((type) => [
        type,
        { exported: expected.get(type)?.length ?? 0, duplicates: 0, missing: 0, unexpected: 0 },
      ]),
    ),
    errorFiles: [],
  });
  expect(TYPES.every((type) => (expected.get(type)?.length ?? 0) > 0)).toBe(true);

  const { location } = await row(b, exportId);
  const container = b.storage.blobService().getContainerClient(location.container);
  const stored: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: location.prefix })) {
    stored.push(blob.name);
  }
  expect(stored.sort()).toEqual(
    manifest.output
      .map((o) => location.prefix + (new URL(o.url).pathname.split('/').pop() ?? ''))
      .sort(),
  );
  return manifest;
}

/**
 * A failed job as the contract says a client sees it: 500 with the job's OperationOutcome,
 * whose diagnostics name what failed and whose issue codes are not `transient` (in the Bulk
 * Data IG that tells the client to poll again, forever on a dead job).
 */
export function expectFailedNaming(res: request.Response, what: string): void {
  expectOperationOutcome(res, 500, { mentions: [what] });
  const outcome = parseBody(res) as OperationOutcome;
  expect(outcome.issue.map((issue) => issue.code)).not.toContain('transient');
}
