import { ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { loadConfig } from '../../src/config/app-config';
import { migrate } from '../../src/database/migrate';

/**
 * Private PostgreSQL and Redis instances on free ports, for tests that stop, kill or restart
 * a dependency. The machine's shared PostgreSQL (5432) and Redis (6379) are never touched.
 *
 * A test calls `destroy()` in its `afterAll`. Should the test process die without running
 * its hooks, an exit handler and, for kill -9, a detached watchdog shell stop the instance
 * and remove its directory, so no server outlives the run.
 */

/** A free TCP port on 127.0.0.1 (the OS picks it; another process could take it before us). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Cleans up after a test process that dies without running its hooks (killed by a CI
 * timeout, kill -9): a detached shell that waits for this process to go, then signals the pid
 * written in `dir/pidFile` and removes `dir`. It ends by itself once `dir` is gone, which is
 * what a normal `destroy()` does.
 */
const WATCHDOG = `
owner=$1; dir=$2; pidfile=$2/$3; signal=$4
while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
[ -d "$dir" ] || exit 0
pid=$(head -n 1 "$pidfile" 2>/dev/null)
if [ -n "$pid" ] && kill -"$signal" "$pid" 2>/dev/null; then
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
fi
rm -rf "$dir"
`;

function startWatchdog(dir: string, pidFile: string, signal: 'QUIT' | 'KILL'): void {
  const watchdog = spawn(
    'sh',
    ['-c', WATCHDOG, 'watchdog', String(process.pid), dir, pidFile, signal],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
}

/** What the last-resort exit handler must do for each live instance; synchronous only. */
const exitCleanups = new Set<() => void>();
process.on('exit', () => {
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: the process is going away.
    }
  }
});

/** Whether `pid` runs; a zombie (dead, not yet reaped by its new parent) does not. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Pids of the direct children of `pid` (ps; /proc/PID/task/PID/children is not everywhere). */
function childPids(pid: number): number[] {
  const ps = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Whether every one of `pids` exited within `timeoutMs`. */
async function waitForExit(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

export type PostgresStopMode = 'smart' | 'fast' | 'immediate';

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:PORT/DATABASE`, migrated unless `migrate: false`. */
  readonly url: string;
  readonly port: number;
  /** The temporary directory holding the cluster (`data/`), its socket and its log. */
  readonly dir: string;
  /** `pg_ctl stop -m mode`; a no-op when it is not running. */
  stop(mode?: PostgresStopMode): Promise<void>;
  /** Starts it again on the same port; a no-op when it runs. Retries while a crash clears up. */
  start(): Promise<void>;
  /**
   * SIGKILL to the postmaster: a crash, not a shutdown. Resolves once its orphaned backends
   * have noticed and exited too, so no connection survives.
   */
  kill(): Promise<void>;
  /** Whether the postmaster is running. */
  isRunning(): boolean;
  /** The tail of the server log, for failure messages. */
  log(): string;
  /** Stops it (immediate) and removes its directory; safe to call twice. */
  destroy(): Promise<void>;
}

export interface PrivatePostgresOptions {
  /** Database name in `url`; default `fhir`. */
  database?: string;
  /** Create the database and apply the migrations (as global-setup does); default true. */
  migrate?: boolean;
}

/**
 * The directory holding initdb, pg_ctl and postgres: PG_BIN, else the newest
 * /usr/lib/postgresql/N/bin, else `pg_config --bindir`.
 */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, 'bin')));
  }
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
  const found = candidates.find((dir) => existsSync(join(dir, 'pg_ctl')));
  if (!found) throw new Error('PostgreSQL binaries not found: install them or set PG_BIN');
  return found;
}

/** Unix user that owns the cluster: PostgreSQL refuses to run as root. */
const PG_OS_USER = process.env.PG_OS_USER ?? 'postgres';

/** `command args` as the cluster's OS user: directly unless root, else through runuser. */
function asPostgresUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['runuser', ['-u', PG_OS_USER, '--', command, ...args]];
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a PostgreSQL binary as the cluster's user; resolves with its exit code, never rejects. */
function runPg(command: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  const [file, argv] = asPostgresUser(command, args);
  return new Promise((resolve) => {
    execFile(file, argv, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr || (error && code === -1 ? error.message : '') });
    });
  });
}

/** uid and gid of the cluster's OS user (root only needs them, to hand it the directory). */
function osUserIds(user: string): { uid: number; gid: number } {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(`running as root needs an OS user "${user}" to own the cluster (PG_OS_USER)`);
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * initdb into a fresh temporary directory (trust auth, superuser `postgres`), starts it on a
 * free port with durability switched off, and (by default) creates and migrates the database.
 */
export async function startPrivatePostgres(
  options: PrivatePostgresOptions = {},
): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'fhir-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const pidFile = join(data, 'postmaster.pid');
  if (process.getuid?.() === 0) {
    const { uid, gid } = osUserIds(PG_OS_USER);
    chownSync(dir, uid, gid);
  }

  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const isRunning = () => {
    const pid = postmasterPid();
    return pid !== undefined && isAlive(pid);
  };
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  // Immediate shutdown (SIGQUIT) ends the postmaster and its backends; then the files go.
  const exitCleanup = () => {
    const pid = postmasterPid();
    if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGQUIT');
    removeDir();
  };
  exitCleanups.add(exitCleanup);
  startWatchdog(dir, 'data/postmaster.pid', 'QUIT');

  const init = await runPg(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
    '--no-instructions',
  ]);
  if (init.code !== 0) {
    exitCleanups.delete(exitCleanup);
    removeDir();
    throw new Error(`initdb failed (${init.code}): ${init.stderr || init.stdout}`);
  }

  let port = 0;
  const pgCtlStart = () =>
    runPg(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      logFile,
      '-w',
      '-t',
      '30',
      '-o',
      [
        `-p ${port}`,
        `-k ${dir}`,
        '-c listen_addresses=127.0.0.1',
        '-c fsync=off',
        '-c full_page_writes=off',
        '-c shared_buffers=16MB',
        '-c max_connections=60',
      ].join(' '),
      'start',
    ]);

  const start = async (): Promise<void> => {
    // After a SIGKILL the orphaned backends may hold the shared memory for a moment.
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (isRunning()) return;
      const result = await pgCtlStart();
      if (result.code === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`pg_ctl start failed (${result.code}): ${result.stderr}\n${log()}`);
      }
      await sleep(200);
    }
  };

  const stop = async (mode: PostgresStopMode = 'fast'): Promise<void> => {
    if (!isRunning()) return;
    const result = await runPg(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop']);
    if (result.code !== 0 && isRunning()) {
      throw new Error(`pg_ctl stop failed (${result.code}): ${result.stderr}\n${log()}`);
    }
  };

  const kill = async (): Promise<void> => {
    const pid = postmasterPid();
    if (pid === undefined || !isAlive(pid)) return;
    const backends = childPids(pid);
    process.kill(pid, 'SIGKILL');
    await waitForExit([pid], 10_000);
    // The orphaned backends notice the postmaster's death and exit, closing their clients'
    // connections; wait for that so the crash is complete when kill() resolves.
    const gone = await waitForExit(backends, 10_000);
    if (!gone) {
      for (const backend of backends.filter(isAlive)) process.kill(backend, 'SIGKILL');
    }
  };

  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    try {
      await stop('immediate');
    } finally {
      exitCleanups.delete(exitCleanup);
      removeDir();
    }
  };

  // The free port may be taken between our check and the server's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const result = await pgCtlStart();
    if (result.code === 0) break;
    if (attempt >= 3) {
      const message = `pg_ctl start failed (${result.code}): ${result.stderr}\n${log()}`;
      await destroy();
      throw new Error(message);
    }
  }

  const url = `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(options.database ?? 'fhir')}`;
  if (options.migrate ?? true) {
    try {
      await migrate(loadConfig({ ...process.env, DATABASE_URL: url }));
    } catch (error) {
      await destroy();
      throw error;
    }
  }

  return { url, port, dir, stop, start, kill, isRunning, log, destroy };
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

export interface PrivateRedis {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** SIGTERM (no persistence, so nothing is saved); a no-op when it is not running. */
  stop(): Promise<void>;
  /** Starts an empty server again on the same port; a no-op when it runs. */
  start(): Promise<void>;
  /** SIGKILL: a crash, not a shutdown. */
  kill(): Promise<void>;
  isRunning(): boolean;
  /** How many clients other than the caller are connected now. */
  connectedClients(): Promise<number>;
  /**
   * Resolves once at least `count` other clients are connected, e.g. as many as before a
   * restart: then the app's clients have reconnected (BullMQ retries about once a second).
   */
  waitForClients(count: number, timeoutMs?: number): Promise<void>;
  /** FLUSHALL: no queue entry of an earlier test is left for the next test's workers. */
  flushAll(): Promise<void>;
  /** The tail of its output, for failure messages. */
  log(): string;
  /** Stops it and removes its directory; safe to call twice. */
  destroy(): Promise<void>;
}

const REDIS_OUTPUT_LIMIT = 16 * 1024;

/** `redis-server` on a free port, no persistence, as a child of the test process. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const isRunning = () =>
    child !== undefined && child.exitCode === null && child.signalCode === null;
  const exitCleanup = () => {
    if (isRunning()) child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  exitCleanups.add(exitCleanup);
  startWatchdog(dir, 'redis.pid', 'KILL');

  const spawnServer = (): Promise<void> => {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    if (proc.pid !== undefined) writeFileSync(join(dir, 'redis.pid'), `${proc.pid}\n`);
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`redis-server did not start within 15 s:\n${output}`));
      }, 15_000);
      const onData = (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-REDIS_OUTPUT_LIMIT);
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${output}`),
        );
      });
    });
  };

  const start = async (): Promise<void> => {
    if (isRunning()) return;
    output = '';
    // The port was ours a moment ago; a client socket in TIME_WAIT does not block the bind.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await spawnServer();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(200);
      }
    }
  };

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    if (!isRunning()) return;
    child?.kill(signal);
    await exited;
  };

  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    try {
      await signalAndWait('SIGKILL');
    } finally {
      exitCleanups.delete(exitCleanup);
      rmSync(dir, { recursive: true, force: true });
    }
  };

  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await spawnServer();
      break;
    } catch (error) {
      if (attempt >= 3) {
        await destroy();
        throw error;
      }
    }
  }

  /** Runs `use` on a connection of its own that gives up at once when Redis is down. */
  const withClient = async <T>(use: (client: Redis) => Promise<T>): Promise<T> => {
    const client = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await use(client);
    } finally {
      client.disconnect();
    }
  };

  const connectedClients = (): Promise<number> =>
    withClient(async (client) => {
      const list = (await client.call('CLIENT', 'LIST')) as string;
      return list.split('\n').filter((line) => line.trim() !== '').length - 1;
    });

  const waitForClients = async (count: number, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let connected = isRunning() ? await connectedClients() : 0;
    while (connected < count) {
      if (Date.now() > deadline) {
        throw new Error(`${connected} of ${count} clients reconnected to Redis in ${timeoutMs} ms`);
      }
      await sleep(100);
      connected = isRunning() ? await connectedClients() : 0;
    }
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => signalAndWait('SIGTERM'),
    start,
    kill: () => signalAndWait('SIGKILL'),
    isRunning,
    connectedClients,
    waitForClients,
    flushAll: () => withClient(async (client) => void (await client.flushall())),
    log: () => output,
    destroy,
  };
}
