import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The compiled server beside this compiled file (`dist/bench/..` → `dist/src/main.js`). */
export const SERVER_ENTRY = join(__dirname, '..', 'src', 'main.js');

/** The node flags of `npm run start:prod` (as the image runs it), so the benchmark measures that. */
const SERVER_NODE_FLAGS = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts['start:prod']
  .split(/\s+/)
  .filter((arg) => arg.startsWith('--'));

/**
 * Runs the server in the child and ties its life to the benchmark: when the benchmark goes
 * away, even by kill -9, the IPC channel closes and the child kills itself. An `exit` message
 * ends it with process.exit (so `--cpu-prof` could write a profile). `profile-start` and
 * `profile-stop` record a V8 CPU profile of just the window between them into the file named
 * by BENCH_CPU_PROFILE, so start-up does not drown the export in the profile.
 */
const CHILD_BOOTSTRAP = `
process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
let session;
process.on('message', (m) => {
  if (m === 'exit') process.exit(0);
  if (m === 'profile-start' && process.env.BENCH_CPU_PROFILE) {
    session = new (require('node:inspector').Session)();
    session.connect();
    session.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: 500 }, () =>
        session.post('Profiler.start', () => process.send('profile-started'))));
  }
  if (m === 'profile-stop' && session) {
    session.post('Profiler.stop', (error, result) => {
      if (!error) require('node:fs').writeFileSync(process.env.BENCH_CPU_PROFILE, JSON.stringify(result.profile));
      session.disconnect();
      session = undefined;
      process.send('profile-stopped');
    });
  }
});
const main = process.argv[1];
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
require(main);
`;

const OUTPUT_LIMIT = 64 * 1024;
const live = new Set<ChildProcess>();

process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Peak and sampled resident memory of one process, MB (MiB). */
export interface MemoryPeak {
  /** Highest VmRSS seen by 100 ms sampling during the window. */
  sampledPeakMb: number;
  /** The kernel's high-water mark (VmHWM) over the process' whole life so far. */
  hwmMb: number;
}

export interface ServerProcess {
  readonly role: 'api' | 'worker';
  readonly pid: number;
  output(): string;
  /** Starts a new sampling window (peak VmRSS from now on); returns the current VmRSS, MB. */
  resetPeak(): number;
  memory(): MemoryPeak;
  /** Starts a CPU profile of this process (BENCH_CPU_PROFILE must be in its environment). */
  startProfile(): Promise<void>;
  /** Stops it and waits until BENCH_CPU_PROFILE is written. */
  stopProfile(): Promise<void>;
  /** Asks the process to exit normally (profiles get written), then kills it if it lingers. */
  stop(timeoutMs?: number): Promise<void>;
  /**
   * Rejects, with the process' last output, if it exits before `stop` is called (a worker that
   * runs out of heap, say), so a benchmark does not wait for an export nobody is running.
   */
  readonly died: Promise<never>;
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

const mb = (kb: number): number => Math.round((kb / 1024) * 10) / 10;

/**
 * Spawns `node dist/src/main.js` with the given role and environment (nothing inherited but
 * PATH and `env`), samples its VmRSS every 100 ms, and resolves once it logged that it is up.
 */
export async function startServer(
  role: 'api' | 'worker',
  env: Record<string, string>,
  startTimeoutMs = 60_000,
): Promise<ServerProcess> {
  if (!existsSync(SERVER_ENTRY)) {
    throw new Error(`${SERVER_ENTRY} is missing: build first (npm run build)`);
  }
  const child = spawn(
    process.execPath,
    [...SERVER_NODE_FLAGS, '-e', CHILD_BOOTSTRAP, SERVER_ENTRY],
    {
      env: { PATH: process.env.PATH ?? '', ...env, ROLE: role },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the ${role} process`);
  live.add(child);

  let output = '';
  let peakKb = 0;
  const sampler = setInterval(() => {
    peakKb = Math.max(peakKb, statusKb(pid, 'VmRSS'));
  }, 100);
  sampler.unref();
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      clearInterval(sampler);
      live.delete(child);
      resolve();
    });
  });

  const startedPattern =
    role === 'api' ? /"(msg|context)":"server listening"/ : /"(msg|context)":"worker started"/;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${role} did not start in ${startTimeoutMs} ms:\n${output}`)),
      startTimeoutMs,
    );
    const record = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
      if (startedPattern.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', record);
    child.stderr?.on('data', record);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${role} exited (${child.exitCode ?? child.signalCode}):\n${output}`));
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw error;
  });

  let stopping = false;
  // Never settles for a process that was asked to stop.
  const died = exited.then((): Promise<never> => {
    if (stopping) return new Promise<never>(() => undefined);
    throw new Error(
      `${role} exited (${child.exitCode ?? child.signalCode}) while in use:\n${output}`,
    );
  });
  // Only a race that waits on it should see the rejection.
  died.catch(() => undefined);

  return {
    role,
    pid,
    died,
    output: () => output,
    resetPeak: () => {
      peakKb = statusKb(pid, 'VmRSS');
      return mb(peakKb);
    },
    memory: () => {
      peakKb = Math.max(peakKb, statusKb(pid, 'VmRSS'));
      return { sampledPeakMb: mb(peakKb), hwmMb: mb(statusKb(pid, 'VmHWM')) };
    },
    startProfile: () => ask(child, 'profile-start', 'profile-started'),
    stopProfile: () => ask(child, 'profile-stop', 'profile-stopped'),
    async stop(timeoutMs = 15_000) {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send('exit');
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function ask(
  child: ChildProcess,
  message: string,
  answer: string,
  timeoutMs = 30_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no ${answer} from ${child.pid} in ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: unknown) => {
      if (m !== answer) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve();
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** Kills every server process still running (failure paths). */
export async function killAllServers(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/**
 * Runs a benchmark's `main` as the process: exits with its code, or on an error prints it,
 * kills every server process it left and exits 1.
 */
export function runBenchmark(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    async (error: unknown) => {
      process.stderr.write(
        `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      await killAllServers();
      process.exit(1);
    },
  );
}
