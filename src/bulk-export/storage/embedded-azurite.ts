import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { LoggerService } from '@nestjs/common';

export interface EmbeddedAzuriteOptions {
  /** Data folder of a persistent instance; default `.azurite` under the working directory. */
  location?: string;
  /** Keeps everything in memory (tests); `location` is then ignored. */
  inMemory?: boolean;
  host?: string;
  /** 0 or undefined: a free port chosen by the system (and kept across restarts). */
  port?: number;
  /** How long to wait for the service to answer. */
  startTimeoutMs?: number;
  /** First wait before restarting Azurite after it died; doubles while restarts keep failing. */
  restartDelayMs?: number;
  /** Longest wait between restarts. */
  restartMaxDelayMs?: number;
  /** Where supervision reports an unexpected exit and each restart; default: nowhere. */
  logger?: Pick<LoggerService, 'log' | 'warn'>;
}

export interface EmbeddedAzurite {
  connectionString: string;
  /** The serving Azurite process; undefined while it is down or being restarted, and after `stop()`. */
  readonly pid: number | undefined;
  /** Stops supervision and Azurite. */
  stop(): Promise<void>;
}

/** Azurite's well-known development account ("Use the Azurite emulator", Microsoft Learn). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * Runs Azurite in the child: when the parent goes away, even by kill -9, the IPC channel closes
 * and Azurite is asked to shut down (SIGTERM runs its own graceful close), so no orphan keeps
 * the port or a half-saved database.
 */
const CHILD_BOOTSTRAP = `
const main = process.argv[1];
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
process.once('disconnect', () => {
  setTimeout(() => process.exit(0), 5000).unref();
  process.kill(process.pid, 'SIGTERM');
});
require(main);
`;

const LISTENING = /successfully listens on https?:\/\/[^\s:]+:(\d+)/;

/** An Azurite child process and the tail of what it printed. */
interface AzuriteChild {
  process: ChildProcess;
  output: () => string;
  /** How much it has printed so far: a mark for {@link AzuriteChild.outputSince}. */
  printed: () => number;
  /** What it printed after `mark` (as much as the tail still holds). */
  outputSince: (mark: number) => string;
}

/**
 * Starts Azurite's Blob service from the project's own `azurite` dependency, for laptops without
 * a storage account and for the test suite, and resolves once it answers HTTP.
 *
 * The child is supervised: when it exits other than through `stop()`, it is started again on the
 * same port and data location, so the connection string the caller already holds stays valid.
 */
export async function startEmbeddedAzurite(
  options: EmbeddedAzuriteOptions = {},
): Promise<EmbeddedAzurite> {
  const host = options.host ?? '127.0.0.1';
  const main = join(dirname(require.resolve('azurite/package.json')), 'dist/src/blob/main.js');
  const flags = ['--skipApiVersionCheck', '--loose', '--silent', '--disableTelemetry'];
  let cwd = tmpdir();
  if (options.inMemory) {
    flags.push('--inMemoryPersistence');
  } else {
    const location = resolve(options.location ?? '.azurite');
    mkdirSync(location, { recursive: true });
    flags.push('--location', location);
    cwd = location;
  }
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const endpointAt = (port: number) => `http://${connectHost}:${port}/${ACCOUNT}`;

  const spawnAt = (port: number) =>
    spawnAzurite([main, '--blobHost', host, '--blobPort', String(port), ...flags], cwd);
  const untilReady = async (child: AzuriteChild): Promise<number> => {
    const port = await waitForPort(child, timeoutMs);
    await waitUntilAnswering(child, endpointAt(port), timeoutMs);
    return port;
  };

  const first = spawnAt(options.port ?? 0);
  let port: number;
  try {
    port = await untilReady(first);
  } catch (error) {
    await stopChild(first.process);
    throw error;
  }
  return new SupervisedAzurite(
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};` +
      `BlobEndpoint=${endpointAt(port)};`,
    first,
    () => spawnAt(port),
    untilReady,
    {
      port,
      initialDelayMs: options.restartDelayMs ?? 500,
      maxDelayMs: options.restartMaxDelayMs ?? 10_000,
      logger: options.logger,
    },
  );
}

/**
 * Restarts Azurite whenever it exits unexpectedly. Restarts back off (doubling up to a limit) so
 * an Azurite that cannot start, say because another process took its port, is retried without
 * spinning; the backoff starts over once a child has stayed up for that limit.
 */
class SupervisedAzurite implements EmbeddedAzurite {
  private serving?: AzuriteChild;
  private starting?: AzuriteChild;
  private servingSince = 0;
  private restartTimer?: NodeJS.Timeout;
  private delayMs: number;
  private stopped = false;

  constructor(
    readonly connectionString: string,
    first: AzuriteChild,
    private readonly respawn: () => AzuriteChild,
    private readonly untilReady: (child: AzuriteChild) => Promise<unknown>,
    private readonly settings: {
      /** Fixed after the first start: the connection string names it. */
      port: number;
      initialDelayMs: number;
      maxDelayMs: number;
      logger?: Pick<LoggerService, 'log' | 'warn'>;
    },
  ) {
    this.delayMs = settings.initialDelayMs;
    this.adopt(first);
  }

  get pid(): number | undefined {
    return this.serving?.process.pid;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const children = [this.serving, this.starting].filter((child) => child !== undefined);
    this.serving = this.starting = undefined;
    await Promise.all(children.map((child) => stopChild(child.process)));
  }

  private adopt(child: AzuriteChild): void {
    this.serving = child;
    this.servingSince = Date.now();
    // Only what it prints from now on can explain an exit (not its start-up banner).
    const printedAtStart = child.printed();
    const azurite = child.process;
    // Neither the child nor its pipes keep the parent alive; the bootstrap handles parent exit.
    azurite.unref();
    azurite.channel?.unref();
    for (const stream of [azurite.stdout, azurite.stderr])
      (stream as { unref?(): void } | null)?.unref?.();
    // Without a listener, a failed kill() would be thrown as an unhandled 'error' event.
    azurite.on('error', (error) => {
      this.settings.logger?.warn(`Azurite: ${error.message}`);
    });
    azurite.once('exit', (code, signal) => {
      if (this.stopped || this.serving !== child) return;
      this.serving = undefined;
      if (Date.now() - this.servingSince >= this.settings.maxDelayMs) {
        this.delayMs = this.settings.initialDelayMs;
      }
      const last = lastLine(child.outputSince(printedAtStart));
      this.settings.logger?.warn(
        `Azurite (pid ${azurite.pid}) exited (${signal ?? `code ${code}`})` +
          `${last ? `: ${last}` : ''}; restarting it on port ${this.settings.port} in ${this.delayMs} ms`,
      );
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    const delayMs = this.delayMs;
    this.delayMs = Math.min(delayMs * 2, this.settings.maxDelayMs);
    // Unreferenced like the child: a pending restart must not keep a finished process alive.
    this.restartTimer = setTimeout(() => void this.restart(), delayMs).unref();
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    const child = this.respawn();
    this.starting = child;
    try {
      await this.untilReady(child);
    } catch (error) {
      await stopChild(child.process);
      if (this.stopped) return;
      this.starting = undefined;
      const message = error instanceof Error ? error.message : String(error);
      const reason = /EADDRINUSE/.test(message)
        ? `port ${this.settings.port} is taken by another process`
        : lastLine(message);
      this.settings.logger?.warn(
        `Azurite could not restart (${reason}); retrying in ${this.delayMs} ms`,
      );
      this.scheduleRestart();
      return;
    }
    if (this.stopped) return; // stop() has stopped this child too
    this.starting = undefined;
    this.adopt(child);
    this.settings.logger?.log(
      `Azurite restarted (pid ${child.process.pid}) on port ${this.settings.port}`,
    );
  }
}

/** The last non-empty line of a text, for a one-line log message. */
function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

function spawnAzurite(args: string[], cwd: string): AzuriteChild {
  const child = spawn(process.execPath, ['-e', CHILD_BOOTSTRAP, ...args], {
    cwd,
    // Its own process group: Ctrl-C in a terminal (SIGINT to the foreground group) must reach
    // only the server, which may still need storage while it shuts down; Azurite follows when
    // the server exits (see CHILD_BOOTSTRAP).
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  let printed = 0;
  const remember = (data: Buffer) => {
    const text = data.toString();
    printed += text.length;
    output = (output + text).slice(-4000);
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  return {
    process: child,
    output: () => output,
    printed: () => printed,
    outputSince: (mark) => output.slice(Math.max(0, output.length - (printed - mark))),
  };
}

function waitForPort(azurite: AzuriteChild, timeoutMs: number): Promise<number> {
  const { process: child, output } = azurite;
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start within ${timeoutMs} ms:\n${output()}`)),
      timeoutMs,
    );
    const onData = () => {
      const match = LISTENING.exec(output());
      if (match) finish(() => resolvePort(Number(match[1])));
    };
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`Azurite exited (${signal ?? code}) before listening:\n${output()}`));
    const onError = (error: Error) => fail(error);
    function finish(settle: () => void) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      settle();
    }
    function fail(error: Error) {
      finish(() => reject(error));
    }
    // Registered after the output collector, so output() already holds the new data.
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

async function waitUntilAnswering(
  azurite: AzuriteChild,
  endpoint: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(azurite.process)) {
      throw new Error(`Azurite exited before answering:\n${azurite.output()}`);
    }
    try {
      await probe(`${endpoint}?comp=list`);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 100));
    }
  }
}

/** Any HTTP answer counts (an unsigned request gets 403); only a connection failure does not. */
function probe(url: string): Promise<void> {
  return new Promise((resolveProbe, reject) => {
    const req = request(url, { method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolveProbe();
    });
    req.on('timeout', () => req.destroy(new Error(`No answer from ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolveStop) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolveStop();
    });
    if (child.connected) child.disconnect();
    else child.kill('SIGTERM');
  });
}
