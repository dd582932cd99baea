import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The compiled server; `npx nest build` (or `npm run build`) makes it. */
export const WORKER_ENTRY = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

/**
 * Loads the server in the child and ties its life to the test process: when the parent goes
 * away, even by kill -9, the IPC channel closes and the worker kills itself, so no orphan
 * keeps taking jobs from the queue.
 */
const CHILD_BOOTSTRAP = `
process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
const main = process.argv[1];
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
require(main);
`;

const OUTPUT_LIMIT = 64 * 1024;

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  readonly pid: number;
  /** Resolves once the worker logged that it started; rejects when it exits or hangs before that. */
  readonly ready: Promise<void>;
  readonly exited: Promise<WorkerExit>;
  /** The tail of its stdout and stderr, for failure messages. */
  output(): string;
  /** kill -9; resolves once the process is gone. */
  kill(): Promise<void>;
  /**
   * Sends `signal` (SIGTERM for a graceful stop, SIGSTOP/SIGCONT to freeze and thaw it, as a
   * long GC pause or a throttled container would); a no-op once it exited.
   */
  signal(signal: NodeJS.Signals): void;
  /** Whether it is still running (a stopped process counts as running). */
  isRunning(): boolean;
}

/** A `ROLE=api` process: the HTTP side alone, as a separate API deployment runs it. */
export interface ApiProcess extends WorkerProcess {
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts `node dist/src/main.js` with ROLE=worker against the test's PostgreSQL, Redis, queue
 * prefix and blob storage, as a separate export worker process would run in production.
 * `env` adds or overrides settings (EXPORT_LOCK_MS, EXPORT_PAGE_SIZE, ...).
 */
export function spawnWorker(
  env: Record<string, string> = {},
  startTimeoutMs = 60_000,
): WorkerProcess {
  return spawnServer('worker', env, startTimeoutMs);
}

/**
 * Starts `node dist/src/main.js` with ROLE=api listening on `port` (the same port again after a
 * restart keeps the Content-Location URLs it handed out valid). `env` must name the storage
 * account (AZURE_STORAGE_CONNECTION_STRING): an api process starts no Azurite of its own.
 */
export function spawnApi(
  port: number,
  env: Record<string, string> = {},
  startTimeoutMs = 60_000,
): ApiProcess {
  const server = spawnServer('api', { ...env, PORT: String(port) }, startTimeoutMs);
  return Object.assign(server, { port, url: `http://127.0.0.1:${port}` });
}

/** What main.ts logs once each role is up: the message or, through Nest's logger, the context. */
const READY: Record<'worker' | 'api', RegExp> = {
  worker: /"(msg|context)":"worker started"/,
  api: /"(msg|context)":"server listening"/,
};

function spawnServer(
  role: 'worker' | 'api',
  env: Record<string, string>,
  startTimeoutMs: number,
): WorkerProcess {
  if (!existsSync(WORKER_ENTRY)) {
    throw new Error(`${WORKER_ENTRY} is missing: build the app first (npx nest build)`);
  }
  const inherited: Record<string, string> = {};
  for (const key of [
    'PATH',
    'DATABASE_URL',
    'REDIS_URL',
    'QUEUE_PREFIX',
    'AZURE_STORAGE_CONNECTION_STRING',
    'AUTH_SIGNING_KEY',
    'EXPORT_KEY_ENCRYPTION_KEY',
  ]) {
    const value = process.env[key];
    if (value !== undefined) inherited[key] = value;
  }
  const child = spawn(process.execPath, ['-e', CHILD_BOOTSTRAP, WORKER_ENTRY], {
    cwd: join(__dirname, '..', '..'),
    env: { ...inherited, ROLE: role, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  if (child.pid === undefined) throw new Error(`could not start an ${role} process`);
  live.add(child);

  let output = '';
  let started!: () => void;
  let failed!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    started = resolve;
    failed = reject;
  });
  const record = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    if (READY[role].test(output)) started();
  };
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  const running = () => child.exitCode === null && child.signalCode === null;
  const exited = new Promise<WorkerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      failed(
        new Error(`${role} ${child.pid} exited (${signal ?? code}) before it started:\n${output}`),
      );
      resolve({ code, signal });
    });
  });
  const startTimer = setTimeout(
    () =>
      failed(new Error(`${role} ${child.pid} did not start in ${startTimeoutMs} ms:\n${output}`)),
    startTimeoutMs,
  );
  // Nobody may be waiting for `ready` when a worker is killed on purpose.
  ready.then(
    () => clearTimeout(startTimer),
    () => clearTimeout(startTimer),
  );

  return {
    pid: child.pid,
    ready,
    exited,
    output: () => output,
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    signal(signal: NodeJS.Signals) {
      if (running()) child.kill(signal);
    },
    isRunning: running,
  };
}

/** Kills every worker and api process this process started, and waits until they are gone. */
export async function killAllWorkers(): Promise<void> {
  const exits = [...live].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(exits);
}
