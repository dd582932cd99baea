import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import Redis from 'ioredis';
import { Client, escapeLiteral } from 'pg';
import { loadConfig } from '../src/config/app-config';
import { EmbeddedAzurite, startEmbeddedAzurite } from '../src/bulk-export/storage/embedded-azurite';
import { SeedSummary, seedPopulation, seedConfig } from '../scripts/seed';
import { ProfileSummary, summariseCpuProfile } from './cpu-profile';
import { BlobServiceClient } from '@azure/storage-blob';
import { cryptoHash } from '../src/anonymization/methods/crypto-hash';
import { BENCH_CONTAINER, BenchClient } from './bench-client';
import {
  Authorization,
  compareIds,
  downloadAndCheck,
  kickOff,
  Manifest,
  waitForManifest,
} from './export-client';
import {
  CURRENT_ROWS,
  measureBlobUploadFloor,
  measureCopyRead,
  measureDatabaseReadFloor,
  measureFilesystemWriteFloor,
  round,
  throughput,
  Throughput,
} from './floors';
import { killAllServers, runBenchmark, ServerProcess, startServer } from './server-process';

const USAGE =
  'usage: node dist/bench/export-benchmark.js [--patients N | --sizes N1,N2] [--smoke] [--seed S]\n' +
  '         [--concurrency C] [--profile] [--floor-runs R] [--timeout-min M] [--reuse-data]\n' +
  '         [--only systemBlob,systemFilesystem,patientBlob,typeFilterBlob] [--server-env KEY=VALUE]\n' +
  '         [--worker-node-options OPTS]';

interface BenchOptions {
  sizes: number[];
  seed: number;
  concurrency: number;
  smoke: boolean;
  profile: boolean;
  timeoutMinutes: number;
  /** Runs of each floor; the best counts. */
  floorRuns: number;
  /** Keep the benchmark database of an earlier run; the seed then loads only missing patients. */
  reuseData: boolean;
  /** Extra settings for both server processes (e.g. EXPORT_PAGE_SIZE=10000 to try a lever). */
  serverEnv: Record<string, string>;
  /** Exports to run (names as in the JSON); all when empty. */
  only: string[];
  /** NODE_OPTIONS of the worker process only (e.g. a heap limit under test). */
  workerNodeOptions?: string;
}

export function parseBenchArguments(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = {
    sizes: [1000],
    seed: 1,
    concurrency: 4,
    smoke: false,
    profile: false,
    timeoutMinutes: 90,
    floorRuns: 2,
    reuseData: false,
    serverEnv: {},
    only: [],
  };
  let sizesGiven = false;
  const positive = (name: string, raw: string | undefined): number => {
    if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1) {
      throw new Error(`${name} needs a positive integer\n${USAGE}`);
    }
    return Number(raw);
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    switch (name) {
      case '--patients':
        if (!sizesGiven) options.sizes = [positive(name, argv[++i])];
        else i++;
        break;
      case '--sizes':
        options.sizes = (argv[++i] ?? '').split(',').map((s) => positive(name, s));
        sizesGiven = true;
        break;
      case '--seed':
        options.seed = positive(name, argv[++i]);
        break;
      case '--concurrency':
        options.concurrency = positive(name, argv[++i]);
        break;
      case '--timeout-min':
        options.timeoutMinutes = positive(name, argv[++i]);
        break;
      case '--floor-runs':
        options.floorRuns = positive(name, argv[++i]);
        break;
      case '--worker-node-options':
        options.workerNodeOptions = argv[++i];
        break;
      case '--reuse-data':
        options.reuseData = true;
        break;
      case '--server-env': {
        const pair = /^([A-Z0-9_]+)=(.*)$/.exec(argv[++i] ?? '');
        if (!pair) throw new Error(`--server-env needs KEY=VALUE\n${USAGE}`);
        options.serverEnv[pair[1]] = pair[2];
        break;
      }
      case '--only':
        options.only = (argv[++i] ?? '').split(',').filter(Boolean);
        break;
      case '--smoke':
        options.smoke = true;
        break;
      case '--profile':
        options.profile = true;
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(name)}\n${USAGE}`);
    }
  }
  if (options.smoke) {
    options.sizes = [3];
    options.floorRuns = 1;
    if (!argv.includes('--timeout-min')) options.timeoutMinutes = 3;
  }
  options.sizes = [...new Set(options.sizes)].sort((a, b) => a - b);
  return options;
}

type FloorName = 'databaseRead' | 'blobUpload' | 'filesystemWrite';

interface ExportSpec {
  name: string;
  storage: 'azure' | 'filesystem';
  /** Path and query of the kick-off under the base URL. */
  path: string;
  floor: FloorName;
  /** Rows of `resource` (current versions) the export must contain. */
  expectedWhere: string;
  /** The id a row has in the export, when it is not its stored one (hashed ids). */
  exportedId?: (id: string) => string;
  /**
   * Sets up what the export needs once the servers run, before its clock starts (a Group, the
   * changes a `_since` export picks up); returns the path and rows that then apply.
   */
  prepare?: (context: PrepareContext) => Promise<Pick<ExportSpec, 'path' | 'expectedWhere'>>;
}

interface PrepareContext {
  base: string;
  auth: Authorization;
  databaseUrl: string;
}

/** The Group `groupBlob` exports: every tenth Patient, in id order. */
const BENCH_GROUP = 'bench-tenth-of-patients';

async function prepareGroup({ base, auth, databaseUrl }: PrepareContext) {
  const members = await withClient(databaseUrl, async (client) => {
    const result = await client.query<{ id: string }>(
      `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM resource
                       WHERE type = 'Patient' AND ${CURRENT_ROWS}) p
       WHERE n % 10 = 1`,
    );
    return result.rows.map((row) => row.id);
  });
  await send(base, auth, 'PUT', `/Group/${BENCH_GROUP}`, {
    resourceType: 'Group',
    id: BENCH_GROUP,
    type: 'person',
    actual: true,
    member: members.map((id) => ({ entity: { reference: `Patient/${id}` } })),
  });
  const ids = members.map((id) => escapeLiteral(id)).join(', ');
  return {
    path: `/Group/${BENCH_GROUP}/$export`,
    expectedWhere:
      `${CURRENT_ROWS} AND patient_ids && ARRAY[${ids}]::text[] ` +
      `AND NOT (type = 'Group' AND id = ${escapeLiteral(BENCH_GROUP)})`,
  };
}

/**
 * Stores a new version of 1% of the current resources, a different 1% each run (the hash of
 * the id salted with the instant), so reused data keeps offering unchanged rows.
 */
async function prepareSince({ base, auth, databaseUrl }: PrepareContext) {
  const since = new Date();
  // lastUpdated has millisecond precision: the changes must land after `since`.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const changed = await withClient(databaseUrl, async (client) => {
    const result = await client.query<{ content: string }>(
      `SELECT content FROM resource
       WHERE ${CURRENT_ROWS} AND abs(hashtext(type || '/' || id || $1)) % 100 = 0 ORDER BY seq`,
      [since.toISOString()],
    );
    return result.rows.map((row) => JSON.parse(row.content) as Record<string, unknown>);
  });
  const BATCH = 500;
  for (let i = 0; i < changed.length; i += BATCH) {
    await send(base, auth, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: changed.slice(i, i + BATCH).map((resource) => ({
        resource: {
          ...resource,
          meta: { tag: [{ system: 'urn:bench', code: 'changed' }] },
        },
        request: { method: 'PUT', url: `${String(resource.resourceType)}/${String(resource.id)}` },
      })),
    });
  }
  return {
    path: `/$export?_since=${encodeURIComponent(since.toISOString())}`,
    expectedWhere: `${CURRENT_ROWS} AND last_updated > ${escapeLiteral(since.toISOString())}`,
  };
}

interface BatchResponse {
  entry?: { response?: { status?: string } }[];
}

async function send(
  base: string,
  auth: Authorization,
  method: 'PUT' | 'POST',
  path: string,
  body: unknown,
): Promise<void> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: await auth(), 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`${method} ${path || '/'} answered ${response.status}: ${text}`);
  // A batch answers 200 with each entry's own status.
  const entries = method === 'POST' ? ((JSON.parse(text) as BatchResponse).entry ?? []) : [];
  const failed = entries.filter((e) => !String(e.response?.status).startsWith('2'));
  if (failed.length) {
    throw new Error(`${failed.length} batch entries failed: ${JSON.stringify(failed[0])}`);
  }
}

/**
 * The HIPAA Safe Harbor sample configuration with explicit keys, as the de-identified export
 * runs it: explicit keys make the exported ids predictable, so they can be checked.
 */
const ANONYMIZATION_CONFIG = 'safe-harbor-bench.json';
const SEALING_SECRET = randomBytes(32).toString('hex');
const CRYPTO_HASH_KEY = 'bench-crypto-hash-key';

async function uploadAnonymizationConfig(connectionString: string): Promise<void> {
  const sample = JSON.parse(
    readFileSync(
      join(__dirname, '..', '..', 'config', 'anonymization', 'safe-harbor.json'),
      'utf8',
    ),
  ) as { parameters: Record<string, unknown> };
  const text = JSON.stringify({
    ...sample,
    parameters: {
      ...sample.parameters,
      dateShiftKey: 'bench-date-shift-key',
      cryptoHashKey: CRYPTO_HASH_KEY,
      encryptKey: '0123456789abcdef0123456789abcdef',
    },
  });
  const container =
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient('anonymization');
  await container.createIfNotExists();
  await container.getBlockBlobClient(ANONYMIZATION_CONFIG).upload(text, Buffer.byteLength(text));
}

const TYPE_FILTER = 'Observation?code=http://loinc.org|8867-4';

const EXPORTS: ExportSpec[] = [
  {
    name: 'systemBlob',
    storage: 'azure',
    path: '/$export',
    floor: 'blobUpload',
    expectedWhere: CURRENT_ROWS,
  },
  {
    name: 'systemFilesystem',
    storage: 'filesystem',
    path: '/$export',
    floor: 'filesystemWrite',
    expectedWhere: CURRENT_ROWS,
  },
  {
    name: 'patientBlob',
    storage: 'azure',
    path: '/Patient/$export',
    floor: 'blobUpload',
    expectedWhere: `${CURRENT_ROWS} AND patient_ids <> '{}'`,
  },
  {
    name: 'typeFilterBlob',
    storage: 'azure',
    path: `/$export?_type=Observation&_typeFilter=${encodeURIComponent(TYPE_FILTER)}`,
    floor: 'blobUpload',
    expectedWhere:
      `${CURRENT_ROWS} AND type = 'Observation' AND content::jsonb @> ` +
      `'{"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}}'`,
  },
  {
    // The system export de-identified with the Safe Harbor sample: every resource parsed,
    // anonymized and serialised, where the others copy stored bytes.
    name: 'anonymizedBlob',
    storage: 'azure',
    path: `/$export?_container=${BENCH_CONTAINER}&_anonymizationConfig=${ANONYMIZATION_CONFIG}`,
    floor: 'blobUpload',
    expectedWhere: CURRENT_ROWS,
    exportedId: (id) => cryptoHash(id, CRYPTO_HASH_KEY),
  },
  {
    // A tenth of the patients as a Group: against patientBlob, what reading only the members'
    // rows saves.
    name: 'groupBlob',
    storage: 'azure',
    path: '',
    floor: 'blobUpload',
    expectedWhere: '',
    prepare: prepareGroup,
  },
  {
    // After 1% of the resources changed: against systemBlob, what reading only the changed
    // rows saves.
    name: 'sinceBlob',
    storage: 'azure',
    path: '',
    floor: 'blobUpload',
    expectedWhere: '',
    prepare: prepareSince,
  },
];

interface ExportResult {
  resourcesPerSecond: number | null;
  ratioToFloor: number | null;
  workerPeakRssMb: number | null;
  skipped?: string;
  floor?: FloorName;
  megabytesPerSecond?: number;
  seconds?: number;
  resources?: number;
  bytes?: number;
  files?: number;
  /** Worker VmRSS once started, before the kick-off: what the process costs with no export. */
  workerIdleRssMb?: number;
  apiIdleRssMb?: number;
  /** Worker VmHWM over its whole life (start-up included). */
  workerHwmMb?: number;
  /** API peak VmRSS between kick-off and manifest (serving status polls). */
  apiPeakRssMb?: number;
  /** API VmHWM including serving every file for verification. */
  apiHwmWithDownloadsMb?: number;
  verified?: boolean;
  /** From the kick-off request to the first bytes of the export in storage (staged blocks count). */
  firstByteMs?: number | null;
  problems?: string[];
  profile?: ProfileSummary;
}

interface SizeResult {
  patients: number;
  resources: number;
  bytes: number;
  seed: SeedSummary;
  floors: {
    databaseRead: Throughput;
    blobUpload: Throughput;
    filesystemWrite: Throughput;
    copyRead?: Throughput;
  };
  exports: Record<string, ExportResult>;
}

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function recreateDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-z0-9_]+$/.test(name) || !name.includes('bench')) {
    throw new Error(
      `refusing to drop ${JSON.stringify(name)}: the benchmark database name must contain "bench"`,
    );
  }
  url.pathname = '/postgres';
  await withClient(url.toString(), async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  });
}

async function expectedIds(
  databaseUrl: string,
  where: string,
  exportedId: (id: string) => string = (id) => id,
): Promise<Map<string, Set<string>>> {
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<[string, string]>({
      text: `SELECT type, id FROM resource WHERE ${where}`,
      rowMode: 'array',
    });
    const byType = new Map<string, Set<string>>();
    for (const [type, id] of result.rows) {
      const ids = byType.get(type) ?? new Set<string>();
      ids.add(exportedId(id));
      byType.set(type, ids);
    }
    return byType;
  });
}

function gitDescription(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+uncommitted` : head;
  } catch {
    return undefined;
  }
}

export async function machine(databaseUrl: string): Promise<Record<string, unknown>> {
  const postgres = await withClient(databaseUrl, async (c) => {
    const r = await c.query<{ server_version: string }>('SHOW server_version');
    return r.rows[0].server_version;
  });
  return {
    cpuModel: cpus()[0]?.model,
    cores: cpus().length,
    memoryGb: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    postgres,
    platform: `${process.platform} ${process.arch}`,
    commit: gitDescription(),
  };
}

interface Environment {
  root: string;
  tmp: string;
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  azurite: EmbeddedAzurite;
  deadline: number;
  profile: boolean;
  workerNodeOptions?: string;
  serverEnv: Record<string, string>;
  only: string[];
}

async function runExport(
  env: Environment,
  spec: ExportSpec,
  size: number,
  floors: SizeResult['floors'],
): Promise<ExportResult> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const filesystemRoot = join(env.tmp, 'export-fs');
  const serverEnv: Record<string, string> = {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    PORT: String(port),
    PUBLIC_BASE_URL: base,
    // info: the start-up lines are how readiness is seen; production runs at info too.
    LOG_LEVEL: 'info',
    EXPORT_STORAGE: spec.storage,
    EXPORT_FILESYSTEM_ROOT: filesystemRoot,
    AZURE_STORAGE_CONNECTION_STRING: env.azurite.connectionString,
    // The api and the worker are separate processes: they share the sealing secret.
    EXPORT_KEY_ENCRYPTION_KEY: SEALING_SECRET,
    ...env.serverEnv,
  };
  const profileFile = join(env.tmp, 'profiles', `${size}-${spec.name}.cpuprofile`);
  const workerEnv = { ...serverEnv };
  if (env.workerNodeOptions) workerEnv.NODE_OPTIONS = env.workerNodeOptions;
  if (env.profile) {
    mkdirSync(dirname(profileFile), { recursive: true });
    rmSync(profileFile, { force: true });
    workerEnv.BENCH_CPU_PROFILE = profileFile;
  }
  // Started one after the other: both apply migrations under an advisory lock.
  const api: ServerProcess = await startServer('api', serverEnv);
  let worker: ServerProcess | undefined;
  try {
    worker = await startServer('worker', workerEnv);
    const apiIdleRssMb = api.resetPeak();
    const workerIdleRssMb = worker.resetPeak();
    const client = await BenchClient.register(env.databaseUrl, base);
    if (spec.exportedId) await uploadAnonymizationConfig(env.azurite.connectionString);
    const auth = () => client.authorization();
    // The first token before the clock starts: a client holds one when it kicks off.
    await auth();
    const { path, expectedWhere } = spec.prepare
      ? await spec.prepare({ base, auth, databaseUrl: env.databaseUrl })
      : spec;
    if (env.profile) await worker.startProfile();
    const started = performance.now();
    const kickoff = await kickOff(`${base}${path}`, auth);
    if (!kickoff.accepted) {
      if (spec.name === 'typeFilterBlob' && kickoff.status === 400) {
        log(
          `${spec.name}: kick-off answered 400, recorded as skipped: ${kickoff.body.slice(0, 300)}`,
        );
        return {
          resourcesPerSecond: null,
          ratioToFloor: null,
          workerPeakRssMb: null,
          skipped: `kick-off answered 400: ${kickoff.body.slice(0, 500)}`,
        };
      }
      throw new Error(`${spec.name}: kick-off answered ${kickoff.status}: ${kickoff.body}`);
    }
    // Polling stops when a process dies, before the processes are torn down under it.
    const polling = new AbortController();
    const waiting = waitForManifest(kickoff.statusUrl, auth, env.deadline, polling.signal);
    waiting.catch(() => undefined);
    const firstByte = watchFirstByte(env, spec.storage, filesystemRoot, kickoff.statusUrl, {
      started,
      signal: polling.signal,
    });
    const manifest: Manifest = await Promise.race([waiting, worker.died, api.died]).finally(() =>
      polling.abort(),
    );
    const seconds = (performance.now() - started) / 1000;
    const firstByteMs = await firstByte;
    if (env.profile) await worker.stopProfile();
    const workerMemory = worker.memory();
    const apiMemory = api.memory();

    const check = await downloadAndCheck(manifest, auth);
    const expected = await expectedIds(env.databaseUrl, expectedWhere, spec.exportedId);
    const problems = [...check.problems, ...compareIds(check.idsByType, expected)];
    if (manifest.error.length) problems.push(`manifest lists ${manifest.error.length} error files`);
    const resources = manifest.output.reduce((n, f) => n + (f.count ?? 0), 0);
    const rate = throughput(resources, check.bytes, seconds);
    const apiAfter = api.memory();
    await worker.stop();
    // Results are committed: name the profile relative to the project, not this machine.
    const profile = env.profile
      ? { ...summariseCpuProfile(profileFile), file: relative(env.root, profileFile) }
      : undefined;
    const floor = floors[spec.floor];
    return {
      resourcesPerSecond: rate.resourcesPerSecond,
      ratioToFloor: round(rate.resourcesPerSecond / floor.resourcesPerSecond, 3),
      workerPeakRssMb: workerMemory.sampledPeakMb,
      floor: spec.floor,
      megabytesPerSecond: rate.megabytesPerSecond,
      seconds: rate.seconds,
      resources,
      bytes: check.bytes,
      files: manifest.output.length,
      workerHwmMb: workerMemory.hwmMb,
      workerIdleRssMb,
      apiIdleRssMb,
      apiPeakRssMb: apiMemory.sampledPeakMb,
      apiHwmWithDownloadsMb: apiAfter.hwmMb,
      verified: problems.length === 0,
      problems,
      firstByteMs,
      profile,
    };
  } finally {
    await worker?.stop();
    await api.stop();
  }
}

/**
 * Milliseconds from `started` until the first export file has bytes in storage: an Azure blob
 * with a staged block, or a non-empty file. Null if the export ends (`signal`) first.
 */
async function watchFirstByte(
  env: Environment,
  storage: ExportSpec['storage'],
  filesystemRoot: string,
  statusUrl: string,
  { started, signal }: { started: number; signal: AbortSignal },
): Promise<number | null> {
  const id = new URL(statusUrl).pathname.split('/').pop();
  const location = await withClient(env.databaseUrl, async (client) => {
    const result = await client.query<{ location: { container: string; prefix: string } }>(
      'SELECT location FROM export_job WHERE id = $1',
      [id],
    );
    return result.rows[0]?.location;
  });
  if (!location) return null;
  const container = BlobServiceClient.fromConnectionString(
    env.azurite.connectionString,
  ).getContainerClient(location.container);
  const hasBytes = async (): Promise<boolean> => {
    try {
      if (storage === 'filesystem') {
        const folder = join(filesystemRoot, location.container, location.prefix);
        return readdirSync(folder).some(
          (name) => name.endsWith('.ndjson') && statSync(join(folder, name)).size > 0,
        );
      }
      for await (const blob of container.listBlobsFlat({
        prefix: location.prefix,
        includeUncommitedBlobs: true,
      })) {
        if (blob.name.endsWith('.ndjson')) return true;
      }
      return false;
    } catch {
      return false; // the folder or container is not there yet
    }
  };
  while (!signal.aborted) {
    if (await hasBytes()) return Math.round(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return null;
}

async function runSize(env: Environment, size: number, options: BenchOptions): Promise<SizeResult> {
  log(`seeding ${size} patients (concurrency ${options.concurrency})`);
  let lastReport = Date.now();
  const seed = await seedPopulation(
    { patients: size, seed: options.seed, concurrency: options.concurrency },
    seedConfig({
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      QUEUE_PREFIX: env.queuePrefix,
    }),
    (loaded, resources) => {
      if (Date.now() - lastReport < 10_000) return;
      lastReport = Date.now();
      log(`  seed: ${loaded} patients, ${resources} resources`);
    },
  );
  log(
    `seeded ${seed.loadedPatients} patients (${seed.skippedPatients} already there): ` +
      `${seed.resources} resources in ${seed.seconds.toFixed(1)} s, ${seed.resourcesPerSecond.toFixed(0)}/s`,
  );
  // Jobs of an earlier run (one killed mid-export, say) point at files that run's clean-up
  // deleted; an identical kick-off would join such a job instead of exporting.
  await withClient(env.databaseUrl, (c) => c.query('DELETE FROM export_job'));
  await withClient(env.databaseUrl, (c) => c.query('VACUUM ANALYZE'));

  // A floor is what the machine can do: the best of a few runs, since Azurite's speed varies.
  const best = async (measure: () => Promise<Throughput>): Promise<Throughput> => {
    let top: Throughput | undefined;
    for (let i = 0; i < options.floorRuns; i++) {
      const t = await measure();
      if (!top || t.resourcesPerSecond > top.resourcesPerSecond) top = t;
    }
    return top as Throughput;
  };
  const databaseRead = await best(() => measureDatabaseReadFloor(env.databaseUrl));
  log(
    `floor (a) database read: ${databaseRead.resourcesPerSecond}/s, ${databaseRead.megabytesPerSecond} MB/s`,
  );
  const copyRead = await measureCopyRead(env.databaseUrl);
  if (copyRead)
    log(`COPY via psql: ${copyRead.resourcesPerSecond}/s, ${copyRead.megabytesPerSecond} MB/s`);
  let floorRun = 0;
  const blobUpload = await best(() =>
    measureBlobUploadFloor({
      databaseUrl: env.databaseUrl,
      connectionString: env.azurite.connectionString,
      container: `bench-floor-${size}-${++floorRun}`,
    }),
  );
  log(
    `floor (b) read + blob upload: ${blobUpload.resourcesPerSecond}/s, ${blobUpload.megabytesPerSecond} MB/s`,
  );
  const filesystemWrite = await best(() =>
    measureFilesystemWriteFloor({
      databaseUrl: env.databaseUrl,
      folder: join(env.tmp, 'floor-c'),
      checkpointBytes: loadConfig({}).EXPORT_CHECKPOINT_MB * 1024 * 1024,
    }),
  );
  log(
    `floor (c) read + local file writes: ${filesystemWrite.resourcesPerSecond}/s, ${filesystemWrite.megabytesPerSecond} MB/s`,
  );
  const floors = { databaseRead, blobUpload, filesystemWrite, copyRead };

  const exports: Record<string, ExportResult> = {};
  for (const spec of EXPORTS) {
    if (env.only.length && !env.only.includes(spec.name)) continue;
    if (Date.now() > env.deadline) throw new Error('time limit reached before all exports ran');
    log(`export ${spec.name} (${spec.storage})`);
    const result = await runExport(env, spec, size, floors);
    exports[spec.name] = result;
    if (!result.skipped) {
      log(
        `  ${result.resources} resources in ${result.seconds} s: ${result.resourcesPerSecond}/s, ` +
          `${result.megabytesPerSecond} MB/s, ratio ${result.ratioToFloor}, worker ${result.workerPeakRssMb} MB, ` +
          `api ${result.apiPeakRssMb} MB, verified ${result.verified}` +
          (result.problems?.length ? `\n    ${result.problems.join('\n    ')}` : ''),
      );
    }
  }
  return {
    patients: size,
    resources: databaseRead.resources,
    bytes: databaseRead.bytes,
    seed,
    floors,
    exports,
  };
}

export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

const FLOOR_LETTERS: Record<FloorName, string> = {
  databaseRead: 'a',
  blobUpload: 'b',
  filesystemWrite: 'c',
};

function shareOfTime(size: SizeResult, part: string, whole: string): number | null {
  const partSeconds = size.exports[part]?.seconds;
  const wholeSeconds = size.exports[whole]?.seconds;
  return partSeconds && wholeSeconds ? round(partSeconds / wholeSeconds, 3) : null;
}

function table(sizes: SizeResult[]): string {
  const rows = [
    '| patients | resources | run | resources/s | MB/s | ratio to floor | worker peak RSS MB | api peak RSS MB |',
    '| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of sizes) {
    const floorRow = (name: string, t?: Throughput) =>
      t &&
      rows.push(
        `| ${s.patients} | ${t.resources} | ${name} | ${t.resourcesPerSecond} | ${t.megabytesPerSecond} | | | |`,
      );
    floorRow('floor (a) PostgreSQL cursor read', s.floors.databaseRead);
    floorRow('COPY TO STDOUT via psql (reference)', s.floors.copyRead);
    floorRow('floor (b) read + Azurite upload', s.floors.blobUpload);
    floorRow('floor (c) read + local file writes', s.floors.filesystemWrite);
    for (const [name, e] of Object.entries(s.exports)) {
      rows.push(
        e.skipped
          ? `| ${s.patients} | | ${name} | skipped | | | | |`
          : `| ${s.patients} | ${e.resources} | ${name} | ${e.resourcesPerSecond} | ${e.megabytesPerSecond} | ` +
              `${e.ratioToFloor} (${FLOOR_LETTERS[e.floor ?? 'databaseRead']}) | ${e.workerPeakRssMb} | ${e.apiPeakRssMb} |`,
      );
    }
  }
  return rows.join('\n');
}

async function main(): Promise<number> {
  const options = parseBenchArguments(process.argv.slice(2));
  const root = process.cwd();
  const tmp = resolve(root, 'bench', 'tmp');
  mkdirSync(tmp, { recursive: true });
  // The same variables the server reads, through the same validation.
  const defaults = loadConfig({
    REDIS_URL: process.env.REDIS_URL,
    DATABASE_URL: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fhir_bench',
    EXPORT_STORAGE: 'filesystem',
  });
  const started = Date.now();
  const deadline = started + options.timeoutMinutes * 60_000;

  let azurite: EmbeddedAzurite | undefined;
  const queuePrefix = `fhirbench-${process.pid}`;
  const cleanUp = async () => {
    await killAllServers();
    await azurite?.stop();
    await deleteQueueKeys(defaults.REDIS_URL, queuePrefix).catch(() => undefined);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Bounded even if something hangs where no deadline is checked.
  const hardStop = setTimeout(
    () => {
      log(`time limit of ${options.timeoutMinutes} min passed: stopping`);
      void cleanUp().finally(() => process.exit(3));
    },
    options.timeoutMinutes * 60_000 + 30_000,
  );

  try {
    if (!options.reuseData) {
      log(`recreating ${new URL(defaults.DATABASE_URL).pathname.slice(1)}`);
      await recreateDatabase(defaults.DATABASE_URL);
    }
    for (const dir of ['azurite', 'export-fs'])
      rmSync(join(tmp, dir), { recursive: true, force: true });
    azurite = await startEmbeddedAzurite({ location: join(tmp, 'azurite') });
    const env: Environment = {
      root,
      tmp,
      databaseUrl: defaults.DATABASE_URL,
      redisUrl: defaults.REDIS_URL,
      queuePrefix,
      azurite,
      deadline,
      profile: options.profile,
      workerNodeOptions: options.workerNodeOptions,
      serverEnv: options.serverEnv,
      only: options.only,
    };
    const sizes: SizeResult[] = [];
    for (const size of options.sizes) sizes.push(await runSize(env, size, options));

    const largest = sizes[sizes.length - 1];
    const problems = sizes.flatMap((s) =>
      Object.entries(s.exports).flatMap(([name, e]) =>
        (e.problems ?? []).map((p) => `${s.patients} patients, ${name}: ${p}`),
      ),
    );
    const result = {
      benchmark: 'bulk-export',
      timestamp: new Date(started).toISOString(),
      smoke: options.smoke,
      workerNodeOptions: options.workerNodeOptions ?? null,
      serverEnv: options.serverEnv,
      patients: largest.patients,
      resources: largest.resources,
      megabytes: round(largest.bytes / 1e6, 1),
      verified: problems.length === 0,
      problems,
      machine: await machine(defaults.DATABASE_URL),
      // Time of one export over another's, same run: what reading only the returned rows saves.
      sinceShareOfFull: shareOfTime(largest, 'sinceBlob', 'systemBlob'),
      groupShareOfPatient: shareOfTime(largest, 'groupBlob', 'patientBlob'),
      firstByteMs: largest.exports.systemBlob?.firstByteMs ?? null,
      floors: largest.floors,
      exports: largest.exports,
      workerPeakRssMbBySize: Object.fromEntries(
        Object.keys(largest.exports).map((name) => [
          name,
          Object.fromEntries(
            sizes.map((s) => [s.patients, s.exports[name]?.workerPeakRssMb ?? null]),
          ),
        ]),
      ),
      sizes,
      durationSeconds: Math.round((Date.now() - started) / 1000),
    };
    const resultsDir = options.smoke ? join(tmp, 'results') : resolve(root, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `${result.timestamp.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`results written to ${file}`);
    process.stdout.write(`${table(sizes)}\n`);
    if (problems.length) process.stdout.write(`VERIFICATION FAILED:\n  ${problems.join('\n  ')}\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return problems.length ? 1 : 0;
  } finally {
    clearTimeout(hardStop);
    await cleanUp();
  }
}

if (require.main === module) runBenchmark(main);
