import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedAzuriteOptions {
  /** Data folder of a persistent instance; default `.azurite` under the working directory. */
  location?: string;
  /** Keeps everything in memory (tests); `location` is then ignored. */
  inMemory?: boolean;
  host?: string;
  /** 0 or undefined: a free port chosen by the system. */
  port?: number;
  /** How long to wait for the service to answer. */
  startTimeoutMs?: number;
}

export interface EmbeddedAzurite {
  connectionString: string;
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

/**
 * Starts Azurite's Blob service from the project's own `azurite` dependency, for laptops without
 * a storage account and for the test suite, and resolves once it answers HTTP.
 */
export async function startEmbeddedAzurite(
  options: EmbeddedAzuriteOptions = {},
): Promise<EmbeddedAzurite> {
  const host = options.host ?? '127.0.0.1';
  const main = join(dirname(require.resolve('azurite/package.json')), 'dist/src/blob/main.js');
  const args = [
    main,
    '--blobHost',
    host,
    '--blobPort',
    String(options.port ?? 0),
    '--skipApiVersionCheck',
    '--loose',
    '--silent',
    '--disableTelemetry',
  ];
  let cwd = tmpdir();
  if (options.inMemory) {
    args.push('--inMemoryPersistence');
  } else {
    const location = resolve(options.location ?? '.azurite');
    mkdirSync(location, { recursive: true });
    args.push('--location', location);
    cwd = location;
  }

  const child = spawn(process.execPath, ['-e', CHILD_BOOTSTRAP, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const remember = (data: Buffer) => {
    output = (output + data.toString()).slice(-4000);
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);

  try {
    const port = await waitForPort(child, () => output, options.startTimeoutMs ?? 30_000);
    const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const endpoint = `http://${connectHost}:${port}/${ACCOUNT}`;
    await waitUntilAnswering(endpoint, options.startTimeoutMs ?? 30_000);
    // Neither the child nor its pipes keep the parent alive; the bootstrap handles parent exit.
    child.unref();
    child.channel?.unref();
    for (const stream of [child.stdout, child.stderr])
      (stream as { unref?(): void } | null)?.unref?.();
    return {
      connectionString:
        `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};` +
        `BlobEndpoint=${endpoint};`,
      stop: () => stopChild(child),
    };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

function waitForPort(
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
): Promise<number> {
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

async function waitUntilAnswering(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
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

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
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
