/*
 * A load run for issue 11 ("Measure"): many Bulk Data clients kick off `$export`, poll at the
 * rate `Retry-After` asks, check one file of each manifest and discard the export, against an
 * API process and separate worker processes. Not a timed test: it reports whether the queue
 * drained, API latency, process memory and every 5xx, and leaves the judging to the reader.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { loadConfig } from '../src/config/app-config';
import { EmbeddedAzurite, startEmbeddedAzurite } from '../src/bulk-export/storage/embedded-azurite';
import { EXPORT_QUEUE } from '../src/bulk-export/export-queue';
import { Rng } from '../generator/prng';
import { seedConfig, seedPopulation, SeedSummary } from '../scripts/seed';
import { BenchClient } from './bench-client';
import {
  deleteQueueKeys,
  freePort,
  machine,
  recreateDatabase,
  withClient,
} from './export-benchmark';
import { Manifest } from './export-client';
import { round } from './floors';
import { killAllServers, runBenchmark, ServerProcess, startServer } from './server-process';

const USAGE =
  'usage: node dist/bench/load-run.js [--clients N] [--duration S] [--drain-timeout S]\n' +
  '         [--patients N] [--workers N] [--seed S] [--reuse-data] [--server-env KEY=VALUE]';

interface LoadOptions {
  clients: number;
  /** Seconds during which clients start new exports. */
  durationSeconds: number;
  /** Seconds after that by which every kicked-off export must have reached a final state. */
  drainTimeoutSeconds: number;
  patients: number;
  workers: number;
  seed: number;
  reuseData: boolean;
  /** Extra settings for every server process (e.g. EXPORT_WORKER_CONCURRENCY=2). */
  serverEnv: Record<string, string>;
}

export function parseLoadArguments(argv: readonly string[]): LoadOptions {
  const options: LoadOptions = {
    clients: 100,
    durationSeconds: 120,
    drainTimeoutSeconds: 300,
    patients: 150,
    workers: 2,
    seed: 1,
    reuseData: false,
    serverEnv: {},
  };
  const positive = (name: string, raw: string | undefined): number => {
    if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1) {
      throw new Error(`${name} needs a positive integer\n${USAGE}`);
    }
    return Number(raw);
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    switch (name) {
      case '--clients':
        options.clients = positive(name, argv[++i]);
        break;
      case '--duration':
        options.durationSeconds = positive(name, argv[++i]);
        break;
      case '--drain-timeout':
        options.drainTimeoutSeconds = positive(name, argv[++i]);
        break;
      case '--patients':
        options.patients = positive(name, argv[++i]);
        break;
      case '--workers':
        options.workers = positive(name, argv[++i]);
        break;
      case '--seed':
        options.seed = positive(name, argv[++i]);
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
      default:
        throw new Error(`unknown argument ${JSON.stringify(name)}\n${USAGE}`);
    }
  }
  return options;
}

const log = (message: string) => process.stderr.write(`[load] ${message}\n`);

/** A request that takes this long counts as hung: the server must answer something sooner. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Shortest wait between polls whatever Retry-After says, so a 0 does not turn into a loop. */
const MIN_POLL_SECONDS = 1;
const GROUP_ID = 'load-run';
const GROUP_SIZE = 20;
const TYPE_FILTER = 'Observation?code=http://loinc.org|8867-4';
const TYPES = [
  'AllergyIntolerance',
  'Claim',
  'Condition',
  'DiagnosticReport',
  'Encounter',
  'ExplanationOfBenefit',
  'Immunization',
  'MedicationRequest',
  'Observation',
  'Organization',
  'Patient',
  'Practitioner',
  'Procedure',
];

interface Variant {
  name: string;
  weight: number;
  /** Path and query of the kick-off; `since` is unique to the client and cycle. */
  path(rng: Rng, since: string): string;
}

/**
 * What clients ask for. The `shared` variants are identical across clients, so the server
 * joins them to the export already running; the others carry a `_since` before any data
 * (the same output as without it) that is unique per kick-off, so each is an export of its own.
 */
const VARIANTS: Variant[] = [
  { name: 'system-shared', weight: 10, path: () => '/$export' },
  { name: 'system', weight: 15, path: (_, since) => `/$export?_since=${since}` },
  { name: 'patient', weight: 10, path: (_, since) => `/Patient/$export?_since=${since}` },
  {
    name: 'group',
    weight: 10,
    path: (_, since) => `/Group/${GROUP_ID}/$export?_since=${since}`,
  },
  {
    // Mostly distinct lists; the odd identical pair joins.
    name: 'types',
    weight: 35,
    path: (rng) => {
      const picked = new Set<string>();
      const count = rng.int(1, 3);
      while (picked.size < count) picked.add(rng.pick(TYPES));
      return `/$export?_type=${[...picked].sort().join(',')}`;
    },
  },
  { name: 'types-shared', weight: 10, path: () => '/Patient/$export?_type=Patient' },
  {
    name: 'typeFilter',
    weight: 10,
    path: (_, since) =>
      `/$export?_type=Observation&_typeFilter=${encodeURIComponent(TYPE_FILTER)}&_since=${since}`,
  },
];

/** Latency samples (ms) and answers by status code, per kind of request. */
class RequestLog {
  readonly latencies = new Map<string, number[]>();
  readonly statuses = new Map<string, Map<number, number>>();
  readonly networkErrors = new Map<string, number>();
  /** Every 5xx answer, with its body (the OperationOutcome names a correlation id). */
  readonly serverErrors: { kind: string; url: string; status: number; body: string }[] = [];

  record(kind: string, ms: number, status: number, url: string, body: string): void {
    this.latency(kind, ms);
    const counts = this.statuses.get(kind) ?? new Map<number, number>();
    counts.set(status, (counts.get(status) ?? 0) + 1);
    this.statuses.set(kind, counts);
    if (status >= 500) this.serverErrors.push({ kind, url, status, body: body.slice(0, 1000) });
  }

  latency(kind: string, ms: number): void {
    const samples = this.latencies.get(kind) ?? [];
    samples.push(ms);
    this.latencies.set(kind, samples);
  }

  failed(kind: string): void {
    this.networkErrors.set(kind, (this.networkErrors.get(kind) ?? 0) + 1);
  }

  count(predicate: (status: number) => boolean): number {
    let n = 0;
    for (const counts of this.statuses.values())
      for (const [status, c] of counts) if (predicate(status)) n += c;
    return n;
  }
}

interface Answer {
  ms: number;
  status: number;
  headers: Headers;
  body: string;
}

/** One timed request; undefined when it failed without an HTTP answer (refused, reset, hung). */
async function timed(
  run: Pick<Run, 'requests' | 'client'>,
  kind: string,
  url: string,
  init: RequestInit = {},
): Promise<Answer | undefined> {
  const { requests } = run;
  const started = performance.now();
  try {
    const headers = new Headers(init.headers);
    headers.set('Authorization', await run.client.authorization());
    const response = await fetch(url, {
      ...init,
      headers,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await response.text();
    const ms = performance.now() - started;
    requests.record(kind, ms, response.status, url, body);
    return { ms, status: response.status, headers: response.headers, body };
  } catch (error) {
    requests.failed(kind);
    log(`${kind} ${url}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** Seconds to wait as the answer's Retry-After asks (delta-seconds or HTTP-date), floored. */
function retryAfterSeconds(answer: Answer | undefined): number {
  const raw = answer?.headers.get('retry-after');
  let seconds = NaN;
  if (raw && /^\d+$/.test(raw.trim())) seconds = Number(raw);
  else if (raw) seconds = (Date.parse(raw) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(MIN_POLL_SECONDS, seconds) : MIN_POLL_SECONDS;
}

type Outcome =
  | { kind: 'completed'; manifest: Manifest }
  | { kind: 'failed'; status: number; body: string }
  | { kind: 'unfinished' };

interface ExportRecord {
  variant: string;
  statusUrl: string;
  joined: boolean;
  /** From sending the kick-off to the 200 (or failure) the client saw, seconds. */
  seconds?: number;
  outcome: Outcome['kind'];
  /** Whether one output file of the manifest was fetched and held the manifest's count. */
  fileChecked?: boolean;
  /** Resources the manifest lists. */
  resources?: number;
}

interface Run {
  base: string;
  client: BenchClient;
  requests: RequestLog;
  exports: ExportRecord[];
  problems: string[];
  /** Clients holding each status URL (a joined export is discarded once the last is done). */
  holders: Map<string, number>;
  kickoffsUntil: number;
  finalBy: number;
  seed: number;
}

const kickoffHeaders = { Accept: 'application/fhir+json', Prefer: 'respond-async' };

/** Kicks off one export, retrying as Retry-After asks on 429 and 503; the status URL or none. */
async function kickOff(run: Run, path: string, first: boolean): Promise<string | undefined> {
  while (Date.now() < run.kickoffsUntil) {
    const answer = await timed(run, 'kickoff', `${run.base}${path}`, {
      headers: kickoffHeaders,
    });
    // Also apart: every client's first kick-off arrives in the same second.
    if (answer && first) run.requests.latency('kickoff-opening-burst', answer.ms);
    const location = answer?.headers.get('content-location');
    if (answer?.status === 202 && location) return location;
    if (answer && answer.status !== 429 && answer.status !== 503) {
      run.problems.push(`kick-off ${path}: ${answer.status} ${answer.body.slice(0, 300)}`);
      await sleep(MIN_POLL_SECONDS * 1000);
      return undefined;
    }
    await sleep(retryAfterSeconds(answer) * 1000);
  }
  return undefined;
}

/** Polls at the rate Retry-After asks until the export completes or fails, or the bound passes. */
async function poll(run: Run, statusUrl: string): Promise<Outcome> {
  for (;;) {
    const answer = await timed(run, 'status', statusUrl);
    if (answer?.status === 200) {
      // Also apart: the manifest is built from the finished job's file list, unlike a 202.
      run.requests.latency('status-manifest', answer.ms);
      return { kind: 'completed', manifest: JSON.parse(answer.body) as Manifest };
    }
    // A 503 with Retry-After is "try again later" (a dependency is down), not a failed export.
    const retry =
      !answer ||
      answer.status === 202 ||
      answer.status === 429 ||
      (answer.status === 503 && answer.headers.has('retry-after'));
    if (!retry) return { kind: 'failed', status: answer.status, body: answer.body };
    const wait = retryAfterSeconds(answer);
    if (Date.now() + wait * 1000 > run.finalBy) return { kind: 'unfinished' };
    await sleep(wait * 1000);
  }
}

/** Fetches the smallest output file and checks it holds as many lines as the manifest says. */
async function checkOneFile(run: Run, manifest: Manifest): Promise<boolean | undefined> {
  const files = manifest.output.filter((f) => f.count !== undefined);
  if (!files.length) return undefined;
  const file = files.reduce((a, b) => ((b.count ?? 0) < (a.count ?? 0) ? b : a));
  const answer = await timed(run, 'file', file.url, {
    headers: { 'Accept-Encoding': 'identity' },
  });
  if (answer?.status !== 200) {
    run.problems.push(`file ${file.url}: ${answer?.status ?? 'no answer'}`);
    return false;
  }
  const lines = answer.body.split('\n').length - 1;
  if (lines !== file.count) {
    run.problems.push(`file ${file.url}: ${lines} lines, manifest says ${file.count}`);
    return false;
  }
  return true;
}

/** One client: kick off, poll, check a file, discard; again until the kick-off window closes. */
async function runClient(run: Run, client: number): Promise<void> {
  const rng = new Rng(run.seed, client);
  // Clients arrive within the first second, not in one burst of the same millisecond.
  await sleep(rng.range(0, 1000));
  for (let cycle = 0; Date.now() < run.kickoffsUntil; cycle++) {
    const variant = rng.weighted(VARIANTS, (v) => v.weight);
    // Before any data: the same output, but a request of its own.
    const since = new Date(Date.UTC(2000, 0, 1) + (client * 10_000 + cycle) * 1000).toISOString();
    const path = variant.path(rng, since);
    const started = performance.now();
    const statusUrl = await kickOff(run, path, cycle === 0);
    if (!statusUrl) continue;
    const joined = run.holders.has(statusUrl);
    run.holders.set(statusUrl, (run.holders.get(statusUrl) ?? 0) + 1);
    const record: ExportRecord = {
      variant: variant.name,
      statusUrl,
      joined,
      outcome: 'unfinished',
    };
    run.exports.push(record);

    const outcome = await poll(run, statusUrl);
    record.outcome = outcome.kind;
    if (outcome.kind !== 'unfinished') record.seconds = (performance.now() - started) / 1000;
    if (outcome.kind === 'failed') {
      run.problems.push(
        `export ${statusUrl} (${path}): ${outcome.status} ${outcome.body.slice(0, 300)}`,
      );
    }
    if (outcome.kind === 'completed') {
      record.resources = outcome.manifest.output.reduce((n, f) => n + (f.count ?? 0), 0);
      record.fileChecked = await checkOneFile(run, outcome.manifest);
    }

    const holders = (run.holders.get(statusUrl) ?? 1) - 1;
    run.holders.set(statusUrl, holders);
    // Discard what nobody else still reads, as a well-behaved client does (Bulk Data Delete).
    if (holders === 0 && outcome.kind !== 'unfinished') {
      await timed(run, 'delete', statusUrl, { method: 'DELETE' });
    }
    // A short pause, so that cycles drift apart instead of polling in lockstep.
    await sleep(rng.range(0, 2000));
  }
}

/** Resident memory of a process, MB (MiB); 0 once it is gone. */
function rssMb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? round(Number(match[1]) / 1024, 1) : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine (every process, other users' included). */
function machineCpu(): { busy: number; total: number } {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const values = ticks.slice(0, 8).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = values[3] + (values[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / 100, total: total / 100 };
}

/** Pids whose command line matches: PostgreSQL backends of one database, our Azurite child. */
function pidsMatching(pattern: RegExp): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (pattern.test(cmdline)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/**
 * CPU seconds used from `start()` on by each group of processes. PostgreSQL backends come and
 * go, so the groups are re-listed at every sample; a backend that ends between samples loses
 * at most its last interval.
 */
class CpuMeter {
  private readonly group = new Map<number, string>();
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private machineStart = machineCpu();

  constructor(private readonly groups: Record<string, () => number[]>) {}

  start(): void {
    this.machineStart = machineCpu();
    for (const pids of Object.values(this.groups))
      for (const pid of pids()) this.first.set(pid, cpuSeconds(pid));
    this.sample();
  }

  sample(): void {
    for (const [name, pids] of Object.entries(this.groups)) {
      for (const pid of pids()) {
        const now = cpuSeconds(pid);
        this.group.set(pid, name);
        if (!this.first.has(pid)) this.first.set(pid, 0); // started after start()
        if (now > 0) this.last.set(pid, now);
      }
    }
  }

  /** CPU seconds per group, and for the whole machine (busy of total). */
  report(): Record<string, number> {
    this.sample();
    const result: Record<string, number> = {};
    for (const name of Object.keys(this.groups)) result[name] = 0;
    for (const [pid, name] of this.group) {
      result[name] += (this.last.get(pid) ?? 0) - (this.first.get(pid) ?? 0);
    }
    const ours = Object.values(result).reduce((a, b) => a + b, 0);
    for (const name of Object.keys(result)) result[name] = round(result[name], 1);
    const end = machineCpu();
    result.machineBusy = round(end.busy - this.machineStart.busy, 1);
    result.machineTotal = round(end.total - this.machineStart.total, 1);
    // Whatever else ran on the machine meanwhile (other users' tests, PostgreSQL's own
    // background processes): the figures are only comparable when this is small.
    result.otherProcesses = round(result.machineBusy - ours, 1);
    return result;
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function latencySummary(samples: number[] | undefined): Record<string, number> {
  const sorted = [...(samples ?? [])].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 50), 1),
    p90Ms: round(percentile(sorted, 90), 1),
    p99Ms: round(percentile(sorted, 99), 1),
    maxMs: round(sorted[sorted.length - 1] ?? 0, 1),
  };
}

function secondsSummary(values: number[]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1);
  return {
    count: sorted.length,
    mean: round(mean, 2),
    p50: round(percentile(sorted, 50), 2),
    p99: round(percentile(sorted, 99), 2),
    max: round(sorted[sorted.length - 1] ?? 0, 2),
  };
}

/** The export queue as the database and BullMQ see it once the clients are done. */
async function queueState(
  databaseUrl: string,
  redisUrl: string,
  prefix: string,
  since: Date,
): Promise<Record<string, unknown>> {
  const rows = await withClient(databaseUrl, async (c) => {
    const byStatus = await c.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM export_job WHERE created_at >= $1 GROUP BY status`,
      [since],
    );
    // Discarded exports keep their times (status 'cancelled'), so these cover every run job.
    const times = await c.query<{ wait: number; run: number; total: number }>(
      `SELECT extract(epoch FROM started_at - created_at)::float8 AS wait,
              extract(epoch FROM finished_at - started_at)::float8 AS run,
              extract(epoch FROM finished_at - created_at)::float8 AS total
         FROM export_job
        WHERE created_at >= $1 AND started_at IS NOT NULL AND finished_at IS NOT NULL`,
      [since],
    );
    return { byStatus: byStatus.rows, times: times.rows };
  });
  const url = new URL(redisUrl);
  const queue = new Queue(EXPORT_QUEUE, {
    prefix,
    connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: 1 },
  });
  try {
    const bull = await queue.getJobCounts(
      'waiting',
      'active',
      'delayed',
      'prioritized',
      'paused',
      'completed',
      'failed',
    );
    const jobsByStatus = Object.fromEntries(rows.byStatus.map((r) => [r.status, r.n]));
    const unfinishedRows = (jobsByStatus.queued ?? 0) + (jobsByStatus.running ?? 0);
    const pending = bull.waiting + bull.active + bull.delayed + bull.prioritized + bull.paused;
    return {
      drained: unfinishedRows === 0 && pending === 0,
      jobsByStatus,
      bullmq: bull,
      queueWaitSeconds: secondsSummary(rows.times.map((t) => t.wait)),
      runSeconds: secondsSummary(rows.times.map((t) => t.run)),
      createdToFinishedSeconds: secondsSummary(rows.times.map((t) => t.total)),
    };
  } finally {
    await queue.close();
  }
}

async function countJobs(databaseUrl: string): Promise<Record<string, number>> {
  return withClient(databaseUrl, async (c) => {
    const r = await c.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM export_job GROUP BY status`,
    );
    return Object.fromEntries(r.rows.map((row) => [row.status, row.n]));
  });
}

/** A Group of the first patients, for the Group-level variant (PUT, so a rerun updates it). */
async function putGroup(base: string, databaseUrl: string, client: BenchClient): Promise<void> {
  const ids = await withClient(databaseUrl, async (c) => {
    const r = await c.query<{ id: string }>(
      `SELECT id FROM resource WHERE type = 'Patient' AND superseded_at IS NULL AND NOT deleted
        ORDER BY id LIMIT ${GROUP_SIZE}`,
    );
    return r.rows.map((row) => row.id);
  });
  const response = await fetch(`${base}/Group/${GROUP_ID}`, {
    method: 'PUT',
    headers: {
      'Content-Type': 'application/fhir+json',
      Authorization: await client.authorization(),
    },
    body: JSON.stringify({
      resourceType: 'Group',
      id: GROUP_ID,
      type: 'person',
      actual: true,
      member: ids.map((id) => ({ entity: { reference: `Patient/${id}` } })),
    }),
  });
  if (!response.ok) throw new Error(`PUT Group: ${response.status} ${await response.text()}`);
}

async function main(): Promise<number> {
  const options = parseLoadArguments(process.argv.slice(2));
  const root = process.cwd();
  const tmp = resolve(root, 'bench', 'tmp', 'load-run');
  mkdirSync(tmp, { recursive: true });
  // Not the export benchmark's database, so the two can run on one machine.
  const defaults = loadConfig({
    REDIS_URL: process.env.REDIS_URL,
    DATABASE_URL:
      process.env.BENCH_LOAD_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fhir_bench_load',
    EXPORT_STORAGE: 'filesystem',
  });
  const databaseName = new URL(defaults.DATABASE_URL).pathname.slice(1);
  const started = Date.now();
  const queuePrefix = `fhirload-${process.pid}`;
  let azurite: EmbeddedAzurite | undefined;
  const cleanUp = async () => {
    await killAllServers();
    await azurite?.stop();
    await deleteQueueKeys(defaults.REDIS_URL, queuePrefix).catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanUp().finally(() => process.exit(130)));
  // Bounded even if something hangs where no deadline is checked (seeding included).
  const limitMs = (options.durationSeconds + options.drainTimeoutSeconds + 600) * 1000;
  const hardStop = setTimeout(() => {
    log('time limit passed: stopping');
    void cleanUp().finally(() => process.exit(3));
  }, limitMs);

  const servers: ServerProcess[] = [];
  try {
    if (!options.reuseData) {
      log(`recreating ${databaseName}`);
      await recreateDatabase(defaults.DATABASE_URL);
    }
    log(`seeding ${options.patients} patients`);
    const seed: SeedSummary = await seedPopulation(
      { patients: options.patients, seed: options.seed, concurrency: 4 },
      seedConfig({
        DATABASE_URL: defaults.DATABASE_URL,
        REDIS_URL: defaults.REDIS_URL,
        QUEUE_PREFIX: queuePrefix,
      }),
    );
    log(`seeded ${seed.loadedPatients} patients (${seed.skippedPatients} already there)`);
    const resources = await withClient(defaults.DATABASE_URL, async (c) => {
      // Jobs of an earlier run point at files that are gone; a kick-off must not join them.
      await c.query('DELETE FROM export_job');
      await c.query('VACUUM ANALYZE');
      const r = await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM resource WHERE superseded_at IS NULL AND NOT deleted`,
      );
      return r.rows[0].n;
    });

    // Azure Blob Storage through Azurite, as the users run it: the sink under load is
    // the one production uses (block uploads, container per export, deletes by listing).
    rmSync(join(tmp, 'azurite'), { recursive: true, force: true });
    azurite = await startEmbeddedAzurite({ location: join(tmp, 'azurite') });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const serverEnv: Record<string, string> = {
      DATABASE_URL: defaults.DATABASE_URL,
      REDIS_URL: defaults.REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      PORT: String(port),
      PUBLIC_BASE_URL: base,
      // info: the start-up lines are how readiness is seen; production runs at info too.
      LOG_LEVEL: 'info',
      EXPORT_STORAGE: 'azure',
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      // Separate api and worker processes share the sealing secret of anonymized exports.
      EXPORT_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      ...options.serverEnv,
    };
    // One after the other: each applies migrations under an advisory lock.
    const api = await startServer('api', serverEnv);
    servers.push(api);
    const workers: ServerProcess[] = [];
    for (let i = 0; i < options.workers; i++) {
      workers.push(await startServer('worker', serverEnv));
      servers.push(workers[i]);
    }
    // A process that dies is a finding, not the end of the run: the others should carry on.
    const deaths: string[] = [];
    for (const server of servers) {
      server.died.catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        deaths.push(`${server.role} ${server.pid}: ${message.slice(0, 4000)}`);
        log(`${server.role} ${server.pid} died`);
      });
    }
    const client = await BenchClient.register(defaults.DATABASE_URL, base);
    await putGroup(base, defaults.DATABASE_URL, client);

    const idle = Object.fromEntries(servers.map((s) => [`${s.role}-${s.pid}`, s.resetPeak()]));
    const cpu = new CpuMeter({
      api: () => [api.pid],
      workers: () => workers.map((w) => w.pid),
      postgres: () => pidsMatching(new RegExp(`^postgres: .* ${databaseName} `)),
      azurite: () => pidsMatching(/azurite\/dist\/src\/blob\/main\.js/),
      loadClients: () => [process.pid],
      // The machine's Redis, shared with whatever else runs here.
      redis: () => pidsMatching(/^redis-server /),
    });
    cpu.start();

    const loadAverageBefore = loadavg().map((l) => round(l, 2));
    const loadStarted = Date.now();
    const runStartedAt = new Date(loadStarted - 1000);
    const run: Run = {
      base,
      client,
      requests: new RequestLog(),
      exports: [],
      problems: [],
      holders: new Map(),
      kickoffsUntil: loadStarted + options.durationSeconds * 1000,
      finalBy: loadStarted + (options.durationSeconds + options.drainTimeoutSeconds) * 1000,
      seed: options.seed,
    };
    // Every 5 s: queue depth and memory, for the timeline in the results.
    const timeline: Record<string, unknown>[] = [];
    const sampler = setInterval(() => {
      cpu.sample();
      void countJobs(defaults.DATABASE_URL)
        .then((jobs) => {
          timeline.push({
            t: Math.round((Date.now() - loadStarted) / 1000),
            queued: jobs.queued ?? 0,
            running: jobs.running ?? 0,
            apiRssMb: rssMb(api.pid),
            workerRssMb: workers.map((w) => rssMb(w.pid)),
          });
        })
        .catch(() => undefined);
    }, 5000);
    log(
      `${options.clients} clients, kick-offs for ${options.durationSeconds} s, ` +
        `every export final within ${options.drainTimeoutSeconds} s more; ${options.workers} workers`,
    );
    await Promise.all(Array.from({ length: options.clients }, (_, i) => runClient(run, i)));
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    clearInterval(sampler);
    const cpuSecondsUsed = cpu.report();
    // What the processes keep once the load is gone: read after a short settle.
    await sleep(2000);
    const memory = Object.fromEntries(
      servers.map((s) => [
        `${s.role}-${s.pid}`,
        {
          idleMb: idle[`${s.role}-${s.pid}`],
          peakMb: s.memory().sampledPeakMb,
          endMb: rssMb(s.pid),
        },
      ]),
    );
    const queue = await queueState(
      defaults.DATABASE_URL,
      defaults.REDIS_URL,
      queuePrefix,
      runStartedAt,
    );

    const byOutcome = (kind: Outcome['kind']) => run.exports.filter((e) => e.outcome === kind);
    const completed = byOutcome('completed');
    const statusCodes = Object.fromEntries(
      [...run.requests.statuses].map(([kind, counts]) => [kind, Object.fromEntries(counts)]),
    );
    const fiveHundreds = run.requests.count((s) => s >= 500);
    const unfinished = byOutcome('unfinished').length;
    const drained = queue.drained === true && unfinished === 0;
    // Each export once, however many clients joined it.
    const exported = new Map(completed.map((e) => [e.statusUrl, e.resources ?? 0]));
    const resourcesExported = [...exported.values()].reduce((a, b) => a + b, 0);
    const problems = [...run.problems, ...deaths];
    const result = {
      benchmark: 'load-run',
      timestamp: new Date(started).toISOString(),
      settings: {
        clients: options.clients,
        durationSeconds: options.durationSeconds,
        drainTimeoutSeconds: options.drainTimeoutSeconds,
        patients: options.patients,
        resources,
        workers: options.workers,
        storage: 'azurite (embedded, on disk)',
        seed: options.seed,
        serverEnv: options.serverEnv,
        variants: Object.fromEntries(VARIANTS.map((v) => [v.name, v.weight])),
      },
      machine: { ...(await machine(defaults.DATABASE_URL)), loadAverageBefore },
      drained,
      fiveHundreds,
      loadSeconds: round(loadSeconds, 1),
      exports: {
        kickedOff: run.exports.length,
        distinct: new Set(run.exports.map((e) => e.statusUrl)).size,
        joined: run.exports.filter((e) => e.joined).length,
        completed: completed.length,
        resourcesExported,
        resourcesPerSecond: Math.round(resourcesExported / loadSeconds),
        failed: byOutcome('failed').length,
        unfinishedAtBound: unfinished,
        filesChecked: completed.filter((e) => e.fileChecked === true).length,
        fileChecksFailed: completed.filter((e) => e.fileChecked === false).length,
        clientSecondsToComplete: secondsSummary(completed.map((e) => e.seconds ?? 0)),
        completedByVariant: Object.fromEntries(
          VARIANTS.map((v) => [v.name, completed.filter((e) => e.variant === v.name).length]),
        ),
      },
      queue,
      latency: Object.fromEntries(
        [...run.requests.latencies.keys()].map((k) => [
          k,
          latencySummary(run.requests.latencies.get(k)),
        ]),
      ),
      statusCodes,
      throttled: run.requests.count((s) => s === 429),
      unavailable: run.requests.count((s) => s === 503),
      networkErrors: Object.fromEntries(run.requests.networkErrors),
      serverErrors: run.requests.serverErrors.slice(0, 20),
      memory,
      cpuSeconds: cpuSecondsUsed,
      seedSeconds: seed.seconds,
      problems: problems.slice(0, 50),
      timeline,
      durationSeconds: Math.round((Date.now() - started) / 1000),
    };
    for (const server of servers) {
      writeFileSync(join(tmp, `${server.role}-${server.pid}.log`), server.output());
    }

    const resultsDir = resolve(root, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `load-run-${result.timestamp.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`results written to ${file}; server logs (last 64 KB each) in ${tmp}`);
    const lat = result.latency;
    process.stdout.write(
      [
        `drained: ${drained}  5xx: ${fiveHundreds}  429: ${result.throttled}  503: ${result.unavailable}`,
        `exports: ${JSON.stringify(result.exports)}`,
        `kick-off latency: ${JSON.stringify(lat.kickoff)}`,
        `status latency:   ${JSON.stringify(lat.status)}`,
        `memory: ${JSON.stringify(memory)}`,
        `cpu seconds: ${JSON.stringify(cpuSecondsUsed)}`,
        problems.length ? `PROBLEMS:\n  ${problems.slice(0, 20).join('\n  ')}` : 'no problems',
        '',
      ].join('\n'),
    );
    return drained && fiveHundreds === 0 && problems.length === 0 ? 0 : 1;
  } finally {
    clearTimeout(hardStop);
    // Stopped one by one first, so that their ends are not reported as deaths.
    for (const server of servers.reverse()) await server.stop();
    await cleanUp();
  }
}

if (require.main === module) runBenchmark(main);
