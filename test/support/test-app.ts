import { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { ClientRegistry } from '../../src/auth/clients/client-registry.service';
import jose from '../../src/auth/jose';
import { AccessTokenIssuer } from '../../src/auth/token/access-token.service';
import { AppConfig, loadConfig } from '../../src/config/app-config';

/** The `_container` names tests export into; the test client is registered for them. */
export const TEST_CONTAINERS = [
  'my-exports',
  'cancel-exports',
  'retention-young',
  'retention-cancelled',
  'research',
];

/** The scope of the test client and its tokens: everything. */
export const TEST_SCOPE = 'system/*.*';

interface TestClient {
  clientId: string;
  bearer?: string;
}

const testClients = new WeakMap<INestApplication, TestClient>();
let testClientKey: Promise<Record<string, unknown>> | undefined;

/** One public key for every test client (tests never sign assertions with it). */
function publicJwk(): Promise<Record<string, unknown>> {
  testClientKey ??= jose
    .generateKeyPair('ES384', { extractable: true })
    .then(async ({ publicKey }) => ({ ...(await jose.exportJWK(publicKey)), kid: 'test' }));
  return testClientKey;
}

/**
 * Gives the app a registered client with every scope and {@link TEST_CONTAINERS} (once) and a
 * fresh access token for it, which {@link api} then sends. {@link useTestApp} calls it before
 * each test, so no token outlives its five minutes.
 */
export async function authorize(app: INestApplication): Promise<void> {
  let client = testClients.get(app);
  if (!client) {
    client = { clientId: `test-client-${randomUUID()}` };
    const result = await app.get(ClientRegistry).register({
      client_id: client.clientId,
      jwks: { keys: [await publicJwk()] },
      scope: TEST_SCOPE,
      containers: TEST_CONTAINERS,
      // Tests start many exports of their own; the limit has tests of its own.
      max_concurrent_exports: 1000,
    });
    if (!('created' in result)) throw new Error(`could not register ${client.clientId}`);
    testClients.set(app, client);
  }
  const config = app.get(AppConfig);
  const { access_token } = await app.get(AccessTokenIssuer).issue({
    clientId: client.clientId,
    scope: TEST_SCOPE,
    baseUrl: config.PUBLIC_BASE_URL ?? 'http://127.0.0.1',
  });
  client.bearer = access_token;
}

/** The client id {@link authorize} registered for the app: the owner of its exports. */
export function testClientId(app: INestApplication): string {
  const client = testClients.get(app);
  if (!client) throw new Error('authorize(app) first');
  return client.clientId;
}

/** The `Authorization` header value of the app's test client. */
export function bearerOf(app: INestApplication): string {
  const bearer = testClients.get(app)?.bearer;
  if (!bearer) throw new Error('authorize(app) first: the app has no test client token');
  return `Bearer ${bearer}`;
}

/** supertest against the app, each request carrying the test client's access token. */
export function api(app: INestApplication) {
  const server = request(app.getHttpServer());
  const bearer = bearerOf(app);
  return {
    get: (url: string) => server.get(url).set('Authorization', bearer),
    post: (url: string) => server.post(url).set('Authorization', bearer),
    put: (url: string) => server.put(url).set('Authorization', bearer),
    patch: (url: string) => server.patch(url).set('Authorization', bearer),
    delete: (url: string) => server.delete(url).set('Authorization', bearer),
    head: (url: string) => server.head(url).set('Authorization', bearer),
    options: (url: string) => server.options(url).set('Authorization', bearer),
  };
}

/** A running application and the configuration it was booted with. */
export interface TestApp {
  app: INestApplication;
  config: AppConfig;
}

interface BootedTestApp extends TestApp {
  close(): Promise<void>;
}

/** Environment settings over `process.env`, or a function giving them once `beforeAll` runs. */
export type TestEnv = Record<string, string> | (() => Record<string, string>);

/** Boots the real application (ROLE=all unless `overrides` say otherwise) against the test database, Redis and Azurite. */
async function bootTestApp(overrides: Record<string, string> = {}): Promise<BootedTestApp> {
  const config = loadConfig({ ...process.env, ...overrides });
  const app = await createApp(config);
  await app.init();
  return { app, config, close: () => app.close() };
}

/** Empties the resource store and the export jobs, so a test sees only its own data. */
async function resetDatabase(app: INestApplication): Promise<void> {
  await app
    .get(DataSource)
    .query(
      'TRUNCATE resource, export_job, export_selection, export_row, search_token, search_string, search_date, search_reference, search_quantity, search_number, search_uri',
    );
}

export interface UseTestAppOptions {
  /**
   * When to empty the database (see {@link resetDatabase}): before `each` test, `once` right
   * after boot (for a describe that loads its data in its own `beforeAll`), or `never`.
   */
  reset?: 'each' | 'once' | 'never';
}

/**
 * Registers the hooks that give a describe block its own application: boot in `beforeAll`,
 * close in `afterAll`, the database reset `options.reset` asks for, and `jest.restoreAllMocks()`
 * after each test. Returns a handle whose `app` and `config` are there from `beforeAll` on.
 *
 * A `beforeAll` that must run before the boot (to start something `env` names) goes above the
 * call; hooks run in the order they are registered.
 */
export function useTestApp(env: TestEnv = {}, options: UseTestAppOptions = {}): TestApp {
  const reset = options.reset ?? 'never';
  let booted: BootedTestApp | undefined;
  const current = (): BootedTestApp => {
    if (!booted) throw new Error('the test app boots in beforeAll: use it in hooks and tests');
    return booted;
  };
  beforeAll(async () => {
    booted = await bootTestApp(typeof env === 'function' ? env() : env);
    if (reset === 'once') await resetDatabase(booted.app);
    if (booted.config.ROLE !== 'worker') await authorize(booted.app);
  });
  afterAll(async () => {
    await booted?.close();
    booted = undefined;
  });
  if (reset === 'each') beforeEach(() => resetDatabase(current().app));
  beforeEach(async () => {
    if (current().config.ROLE !== 'worker') await authorize(current().app);
  });
  afterEach(() => jest.restoreAllMocks());
  return {
    get app() {
      return current().app;
    },
    get config() {
      return current().config;
    },
  };
}
