import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { generateClientKey, PrivateKey } from '../scripts/client-key';
import { requestToken } from '../scripts/token';

/** The `_container` the benchmark client may write into. */
export const BENCH_CONTAINER = 'bench-exports';

/** A token is fetched anew once it is this old (tokens live five minutes). */
const REFRESH_AFTER_MS = 120_000;

/**
 * The benchmarks' backend client: registered straight in the database (as `npm run client`
 * does), with tokens from the server's token endpoint exactly as a SMART Backend Services
 * client gets them, so every measured call pays for authorization as production calls do.
 */
export class BenchClient {
  private token?: { value: string; at: number };

  private constructor(
    private readonly clientId: string,
    private readonly key: PrivateKey,
    private readonly base: string,
  ) {}

  /** Registers a client that may read everything and run as many exports as the load needs. */
  static async register(databaseUrl: string, base: string): Promise<BenchClient> {
    const clientId = `bench-${randomUUID()}`;
    const { privateJwk, publicJwk } = await generateClientKey();
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO auth_client (client_id, jwks, scope, containers, max_concurrent_exports)
         VALUES ($1, $2, 'system/*.*', $3, 1000)`,
        [clientId, JSON.stringify({ keys: [publicJwk] }), [BENCH_CONTAINER]],
      );
    } finally {
      await client.end();
    }
    const key = { jwk: privateJwk, alg: 'ES384' as const, kid: String(privateJwk.kid) };
    return new BenchClient(clientId, key, base);
  }

  /** The `Authorization` header value, with a token fresh enough for the next calls. */
  async authorization(): Promise<string> {
    if (!this.token || Date.now() - this.token.at > REFRESH_AFTER_MS) {
      const scope = 'system/*.*';
      const response = await requestToken(
        { clientId: this.clientId, scope, baseUrl: this.base },
        this.key,
      );
      this.token = { value: String(response.access_token), at: Date.now() };
    }
    return `Bearer ${this.token.value}`;
  }
}
