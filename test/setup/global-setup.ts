import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { loadConfig } from '../../src/config/app-config';
import { migrate } from '../../src/database/migrate';
import { startEmbeddedAzurite } from '../../src/bulk-export/storage/embedded-azurite';
import { TestGlobals } from './test-globals';

/**
 * Gives the integration suite a fresh database (dropped and recreated, then migrated), a Redis
 * key prefix of its own, and blob storage: an in-memory Azurite on a free port, unless
 * TEST_AZURE_STORAGE_CONNECTION_STRING names one. TEST_DATABASE_URL chooses the database name
 * so that parallel checkouts do not collide.
 */
export default async function globalSetup(): Promise<void> {
  const databaseUrl =
    process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fhir_test';
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  process.env.DATABASE_URL = databaseUrl;
  process.env.QUEUE_PREFIX = `test-${process.pid}`;
  process.env.LOG_LEVEL = process.env.LOG_LEVEL ?? 'silent';
  // One token signing key for every app and server process of the run, as a deployment
  // configures one: a token an app issues is good at an API process a test spawns.
  process.env.AUTH_SIGNING_KEY ??= generateKeyPairSync('ec', { namedCurve: 'P-384' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  process.env.EXPORT_KEY_ENCRYPTION_KEY ??= randomBytes(32).toString('hex');

  const storage = process.env.TEST_AZURE_STORAGE_CONNECTION_STRING;
  if (storage) {
    process.env.AZURE_STORAGE_CONNECTION_STRING = storage;
  } else {
    const azurite = await startEmbeddedAzurite({ inMemory: true });
    (globalThis as TestGlobals).__embeddedAzurite = azurite;
    process.env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
  }

  await migrate(loadConfig());
}
