import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  IncomingMessage,
  request as httpRequest,
  Server,
  ServerResponse,
} from 'node:http';
import { Socket } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import {
  EmbeddedAzurite,
  startEmbeddedAzurite,
} from '../../src/bulk-export/storage/embedded-azurite';

/**
 * A fault-injecting HTTP proxy in front of a private, in-memory Azurite, so a test can make
 * export storage fail the ways Azure Blob Storage does (503 ServerBusy, requests that never
 * answer, connections refused or reset) and recover, while the machine's services and the
 * suite's shared Azurite stay untouched.
 */

/**
 * - `pass`: forward every request (after `latencyMs`).
 * - `unavailable`: answer 503 with `x-ms-error-code: ServerBusy` and Azure's XML error body.
 * - `hang`: accept the request and never answer it, not even after the mode changes back: the
 *   client must time out by itself.
 * - `reset`: accept the connection and destroy it (ECONNRESET, "socket hang up").
 * - `refuse`: stop listening and drop open connections (ECONNREFUSED), as a storage endpoint
 *   that is down.
 */
export type StorageFaultMode = 'pass' | 'unavailable' | 'hang' | 'reset' | 'refuse';

/** What a hold or a log entry sees of one request. */
export interface ProxiedRequest {
  method: string;
  /** The URL path, e.g. `/devstoreaccount1/container/blob`. */
  path: string;
  /** The `comp` query parameter (`block`, `blocklist`, `list`, ...), or '' without one. */
  comp: string;
}

/** One request held by {@link StorageFaultProxy.holdNext} until the test lets it go. */
export interface HeldRequest {
  /** Resolves with the request once one matching it arrives. */
  readonly reached: Promise<ProxiedRequest>;
  /** Forwards the held request to Azurite (whatever the mode is then); resolves with its status. */
  release(): Promise<number>;
}

export interface StorageFaultCounts {
  forwarded: number;
  unavailable: number;
  hung: number;
  reset: number;
  held: number;
}

export interface StorageFaultProxy {
  readonly port: number;
  /** Connection string of Azurite's well-known account with its Blob endpoint at this proxy. */
  readonly connectionString: string;
  readonly mode: StorageFaultMode;
  /** Switches how requests arriving from now on are treated; resolves once it applies. */
  setMode(mode: StorageFaultMode): Promise<void>;
  /** Delay added before each forwarded request, to slow an export down so faults land mid-way. */
  setLatency(ms: number): void;
  /** Holds the next request `match` accepts (in any mode but `refuse`) until released. */
  holdNext(match: (request: ProxiedRequest) => boolean): HeldRequest;
  /** How many requests each treatment got since the start or the last `reset()`. */
  counts(): StorageFaultCounts;
  /** Back to `pass` without latency; hung and held requests are dropped, counts zeroed. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** The Blob endpoint (`http://host:port/account`) a connection string names. */
function blobEndpoint(connectionString: string): URL {
  const match = /BlobEndpoint=([^;]+)/.exec(connectionString);
  if (!match) throw new Error('the connection string names no BlobEndpoint');
  return new URL(match[1]);
}

/** Azure's answer when a storage node sheds load ("Blob service error codes", ServerBusy). */
function serverBusy(res: ServerResponse): void {
  const requestId = randomUUID();
  const body =
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>' +
    '<Message>The server is currently unable to receive requests. Please retry your request.\n' +
    `RequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
  res.writeHead(503, 'The server is currently unable to receive requests.', {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-ms-error-code': 'ServerBusy',
    'x-ms-request-id': requestId,
    'x-ms-version': '2025-01-05',
  });
  res.end(body);
}

/** Starts a proxy on a free port of 127.0.0.1 in front of the Blob endpoint of `connectionString`. */
export async function startStorageFaultProxy(connectionString: string): Promise<StorageFaultProxy> {
  const target = blobEndpoint(connectionString);
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  const holds: {
    match: (r: ProxiedRequest) => boolean;
    arrived: (r: ProxiedRequest) => void;
    held?: () => Promise<number>;
    drop?: () => void;
  }[] = [];
  const counts: StorageFaultCounts = { forwarded: 0, unavailable: 0, hung: 0, reset: 0, held: 0 };
  let mode: StorageFaultMode = 'pass';
  let latencyMs = 0;

  /** Sends the request on to Azurite and its answer back; resolves with its status (0: none). */
  const forward = (req: IncomingMessage, res: ServerResponse): Promise<number> =>
    new Promise((resolve) => {
      let status = 0;
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (answer) => {
          status = answer.statusCode ?? 502;
          res.writeHead(status, answer.statusMessage, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.once('error', () => req.socket.destroy());
      // Answered, or the client gave up: either way this request is over.
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy();
        resolve(status);
      });
      req.pipe(upstream);
    });

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const seen: ProxiedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      comp: url.searchParams.get('comp') ?? '',
    };
    const hold = holds.find((h) => !h.held && h.match(seen));
    if (hold) {
      counts.held += 1;
      // The body stays unread (paused) until the release forwards it.
      req.pause();
      hold.held = () => forward(req, res);
      hold.drop = () => req.socket.destroy();
      hold.arrived(seen);
      return;
    }
    switch (mode) {
      case 'unavailable':
        counts.unavailable += 1;
        req.resume();
        req.once('end', () => serverBusy(res));
        return;
      case 'hang':
        counts.hung += 1;
        req.resume();
        hung.add(res);
        return;
      case 'reset':
      case 'refuse':
        counts.reset += 1;
        req.socket.destroy();
        return;
      case 'pass':
        counts.forwarded += 1;
        if (latencyMs > 0) {
          req.pause();
          setTimeout(() => void forward(req, res), latencyMs);
        } else {
          void forward(req, res);
        }
        return;
    }
  };

  const server: Server = createServer({ keepAlive: true }, handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  await listen(0);
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('the proxy has no port');
  const port = address.port;
  const proxied = new URL(target.toString());
  proxied.host = `127.0.0.1:${port}`;
  const proxiedConnectionString = connectionString.replace(
    /BlobEndpoint=[^;]+/,
    `BlobEndpoint=${proxied.toString().replace(/\/$/, '')}`,
  );

  const setMode = async (next: StorageFaultMode): Promise<void> => {
    if (next === mode) return;
    const previous = mode;
    mode = next;
    if (next === 'refuse') await stopListening();
    else if (previous === 'refuse') await listen(port);
  };

  const dropHungAndHeld = () => {
    for (const res of hung) res.socket?.destroy();
    hung.clear();
    for (const hold of holds.splice(0)) hold.drop?.();
  };

  return {
    port,
    connectionString: proxiedConnectionString,
    get mode() {
      return mode;
    },
    setMode,
    setLatency(ms: number) {
      latencyMs = ms;
    },
    holdNext(match) {
      let arrived!: (r: ProxiedRequest) => void;
      const reached = new Promise<ProxiedRequest>((resolve) => (arrived = resolve));
      const hold: (typeof holds)[number] = { match, arrived };
      holds.push(hold);
      return {
        reached,
        release: async () => {
          await reached;
          holds.splice(holds.indexOf(hold), 1);
          return hold.held ? hold.held() : 0;
        },
      };
    },
    counts: () => ({ ...counts }),
    async reset() {
      dropHungAndHeld();
      latencyMs = 0;
      await setMode('pass');
      for (const key of Object.keys(counts) as (keyof StorageFaultCounts)[]) counts[key] = 0;
    },
    async close() {
      dropHungAndHeld();
      await stopListening();
      agent.destroy();
    },
  };
}

/** A private in-memory Azurite and a fault proxy in front of it. */
export interface FaultyStorage {
  /** Straight to Azurite: for the test's own reads, and processes that must not see faults. */
  readonly directConnectionString: string;
  readonly proxy: StorageFaultProxy;
  /** A client straight to Azurite. */
  blobService(): BlobServiceClient;
  /** Stops the proxy and Azurite; safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * Starts an in-memory Azurite (its process shuts down by itself should the test process die)
 * and a fault proxy in front of it.
 */
export async function startFaultyStorage(): Promise<FaultyStorage> {
  const azurite: EmbeddedAzurite = await startEmbeddedAzurite({ inMemory: true });
  let proxy: StorageFaultProxy;
  try {
    proxy = await startStorageFaultProxy(azurite.connectionString);
  } catch (error) {
    await azurite.stop();
    throw error;
  }
  let destroyed = false;
  return {
    directConnectionString: azurite.connectionString,
    proxy,
    blobService: () => BlobServiceClient.fromConnectionString(azurite.connectionString),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        await proxy.close();
      } finally {
        await azurite.stop();
      }
    },
  };
}
