import { readdirSync, readFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite, startEmbeddedAzurite } from '../src/bulk-export/storage/embedded-azurite';
import { eventually } from './support/export-helpers';
import { api, useTestApp } from './support/test-app';
import { readText, uniqueContainerName } from './support/azurite';

/**
 * The Azurite that `npm start` runs without a storage account is supervised (issue 11, item 2):
 * killed, it comes back on the same port, so the connection string the server holds keeps
 * working, and `/health/ready` fails meanwhile. Each test kills an Azurite it started itself.
 */

/** What supervision logged, one line per call. */
function recordingLogger() {
  const lines: string[] = [];
  return {
    lines,
    log: (message: string) => lines.push(`log: ${message}`),
    warn: (message: string) => lines.push(`warn: ${message}`),
  };
}

/** One request, no retries: the SDK's own retries would hide an outage for a minute. */
function blobService(azurite: EmbeddedAzurite): BlobServiceClient {
  return BlobServiceClient.fromConnectionString(azurite.connectionString, {
    retryOptions: { maxTries: 1, tryTimeoutInMs: 2000 },
  });
}

async function roundTrip(service: BlobServiceClient, text: string): Promise<string> {
  const container = service.getContainerClient(uniqueContainerName('supervised'));
  await container.create();
  const blob = container.getBlockBlobClient('probe.txt');
  await blob.upload(text, Buffer.byteLength(text));
  const download = await blob.download();
  return readText(download.readableStreamBody!);
}

function portOf(azurite: EmbeddedAzurite): number {
  return Number(/BlobEndpoint=http:\/\/[^:]+:(\d+)\//.exec(azurite.connectionString)![1]);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pids of every Azurite started on `port`, running or booting, seen from outside: restarts, not
 * a first start on a port the system chose (its command line says `--blobPort 0`).
 */
function azuritesOnPort(port: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('--blobPort');
      if (
        args.some((a) => a.endsWith('azurite/dist/src/blob/main.js')) &&
        args[at + 1] === `${port}`
      )
        pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Kills the serving Azurite with SIGKILL and waits until supervision has noticed. */
async function killAzurite(azurite: EmbeddedAzurite): Promise<number> {
  const pid = azurite.pid!;
  process.kill(pid, 'SIGKILL');
  await eventually(() => Promise.resolve(azurite.pid === undefined), 'the exit to be noticed');
  return pid;
}

/** Listens on `port` in Azurite's place, as another process that took the port would. */
function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('supervised embedded Azurite', () => {
  const logger = recordingLogger();
  let azurite: EmbeddedAzurite;

  beforeAll(async () => {
    azurite = await startEmbeddedAzurite({
      inMemory: true,
      // Long enough that the outage is still on when the test looks; short enough for the suite.
      restartDelayMs: 1000,
      restartMaxDelayMs: 2000,
      logger,
    });
  });
  afterAll(() => azurite?.stop());

  // The app holds the connection string from before the kill, as `npm start` does.
  const t = useTestApp(() => ({
    AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
    STORAGE_MAX_TRIES: '1',
  }));

  it('restarts a SIGKILLed Azurite on the same port: requests fail, then succeed on the same connection string, and readiness follows', async () => {
    const service = blobService(azurite);
    const http = () => api(t.app);
    expect(await roundTrip(service, 'before')).toBe('before');
    await http().get('/health/ready').expect(200);

    const killed = await killAzurite(azurite);

    await expect(roundTrip(service, 'during')).rejects.toThrow(/ECONNREFUSED/);
    const down = await http().get('/health/ready').expect(503);
    expect(down.body.issue[0].diagnostics).toMatch(/^Not ready: storage .* down$/);

    await eventually(
      () =>
        roundTrip(service, 'after').then(
          () => true,
          () => false,
        ),
      'Azurite to answer again on the same connection string',
    );
    expect(await roundTrip(service, 'after')).toBe('after');
    await http().get('/health/ready').expect(200);
    expect(azurite.pid).toBeDefined();
    expect(azurite.pid).not.toBe(killed);
    expect(logger.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `^warn: Azurite \\(pid ${killed}\\) exited \\(SIGKILL\\).*port ${portOf(azurite)}`,
          ),
        ),
        expect.stringMatching(new RegExp(`^log: Azurite restarted \\(pid ${azurite.pid}\\)`)),
      ]),
    );
  });

  it('keeps retrying, and the server keeps serving, while another process holds the port', async () => {
    const service = blobService(azurite);
    const port = portOf(azurite);
    await killAzurite(azurite);
    const squatter = await occupy(port);
    try {
      await eventually(
        () =>
          Promise.resolve(
            logger.lines.filter((l) => l.includes(`port ${port} is taken by another process`))
              .length > 0,
          ),
        'a failed restart to be logged',
        60_000,
      );
      expect(azurite.pid).toBeUndefined();
      await api(t.app).get('/health/live').expect(200);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }

    await eventually(
      () =>
        roundTrip(service, 'back').then(
          () => true,
          () => false,
        ),
      'Azurite to take its port back',
    );
    expect(azurite.pid).toBeDefined();
  });

  it('stop() stops the child, and nothing restarts it', async () => {
    const port = portOf(azurite);
    const pid = azurite.pid!;

    await azurite.stop();

    expect(azurite.pid).toBeUndefined();
    expect(isRunning(pid)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // past the longest restart delay
    expect(azuritesOnPort(port)).toEqual([]);
    await expect(roundTrip(blobService(azurite), 'stopped')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('stopping a supervised embedded Azurite', () => {
  it('cancels a restart that is waiting out its delay', async () => {
    const azurite = await startEmbeddedAzurite({ inMemory: true, restartDelayMs: 500 });
    const port = portOf(azurite);
    await killAzurite(azurite);

    await azurite.stop();

    await new Promise((resolve) => setTimeout(resolve, 1500)); // three times the delay
    expect(azuritesOnPort(port)).toEqual([]);
    expect(azurite.pid).toBeUndefined();
  });

  it('stops a restart that is still booting, and nothing restarts it', async () => {
    const azurite = await startEmbeddedAzurite({ inMemory: true, restartDelayMs: 100 });
    const port = portOf(azurite);
    const killed = await killAzurite(azurite);
    await eventually(
      () => Promise.resolve(azuritesOnPort(port).some((pid) => pid !== killed)),
      'a restart to begin',
    );
    expect(azurite.pid).toBeUndefined(); // booting takes Azurite far longer than a poll

    await azurite.stop();

    expect(azuritesOnPort(port)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(azuritesOnPort(port)).toEqual([]);
    expect(azurite.pid).toBeUndefined();
  });
});
