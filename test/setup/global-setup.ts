import { Client } from 'pg';
import { loadConfig } from '../../src/config/app-config';
import { migrate } from '../../src/database/migrate';

/**
 * Gives the integration suite a fresh database (dropped and recreated, then migrated),
 * and a Redis key prefix of its own. The database name can be chosen with
 * TEST_DATABASE_URL so that parallel checkouts do not collide.
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
  await migrate(loadConfig());
}
