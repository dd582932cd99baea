import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource, MigrationInterface } from 'typeorm';

const MIGRATIONS_DIR = join(__dirname, '..', 'migrations');
const UNDER_TEST = 'IndexSinceAndExportSelection1764137500000';

type MigrationClass = new () => MigrationInterface;

/** Every migration class, in the order of their timestamps. */
async function migrationClasses(): Promise<MigrationClass[]> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((file) => file.endsWith('.ts'))
    .sort();
  const modules = await Promise.all(
    files.map((file) => import(join(MIGRATIONS_DIR, file)) as Promise<Record<string, unknown>>),
  );
  return modules
    .flatMap((module) => Object.values(module))
    .filter((value): value is MigrationClass => typeof value === 'function');
}

async function migrateWith(url: string, migrations: MigrationClass[]): Promise<string[]> {
  const dataSource = new DataSource({ type: 'postgres', url, migrations });
  await dataSource.initialize();
  try {
    return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * The schema change for `_since`, Group selections and search primary keys, applied to a
 * database that already holds versions and search rows, as an upgrade meets it.
 */
describe('migration IndexSinceAndExportSelection on a populated database', () => {
  const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fhir_test');
  const name = `fhir_migration_${randomUUID().slice(0, 8)}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  const admin = new URL(base);
  admin.pathname = '/postgres';
  let db: Client;

  const rows = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await db.query(sql, params)).rows as T[];

  beforeAll(async () => {
    const client = new Client({ connectionString: admin.toString() });
    await client.connect();
    await client.query(`CREATE DATABASE "${name}"`);
    await client.end();
    db = new Client({ connectionString: url.toString() });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    const client = new Client({ connectionString: admin.toString() });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.end();
  });

  it('keeps every version and index row, numbers repeated values, and answers searches the same', async () => {
    const all = await migrationClasses();
    const before = all.filter((m) => m.name !== UNDER_TEST);
    expect(before.length).toBe(all.length - 1);
    await migrateWith(url.toString(), before);

    // 300 resources in 3 versions each (two superseded), every version indexed; each
    // Observation version has two codings, so (seq, 'code') repeats.
    await db.query(`
      INSERT INTO resource (type, id, version, last_updated, superseded_at, content, patient_ids)
      SELECT CASE WHEN g % 3 = 0 THEN 'Patient' ELSE 'Observation' END, 'r-' || g, v,
             timestamptz '2026-01-01' + make_interval(days => v),
             CASE WHEN v < 3 THEN timestamptz '2026-01-01' + make_interval(days => v + 1) END,
             '{"resourceType":"x"}', ARRAY['p-' || (g % 50)]
      FROM generate_series(1, 300) g, generate_series(1, 3) v`);
    await db.query(`
      INSERT INTO search_token (seq, type, param, system, code)
      SELECT seq, type, 'code', 'http://loinc.org', c
      FROM resource, unnest(ARRAY['8867-4', '8302-2']) c WHERE type = 'Observation'`);
    await db.query(`
      INSERT INTO search_token (seq, type, param, system, code)
      SELECT seq, type, '_id', NULL, id FROM resource`);
    await db.query(`
      INSERT INTO search_date (seq, type, param, low, high)
      SELECT seq, type, '_lastUpdated', last_updated, last_updated FROM resource`);

    const versions = `SELECT type, id, version, superseded_at FROM resource ORDER BY type, id, version`;
    const search = `SELECT DISTINCT r.type, r.id FROM resource r JOIN search_token t ON t.seq = r.seq
       WHERE t.param = 'code' AND t.code = '8302-2' AND r.superseded_at IS NULL ORDER BY 1, 2`;
    const versionsBefore = await rows(versions);
    const searchBefore = await rows(search);
    const [{ n: tokensBefore }] = await rows<{ n: string }>(`SELECT count(*) n FROM search_token`);
    expect(versionsBefore.length).toBe(900);
    expect(searchBefore.length).toBe(200);

    expect(await migrateWith(url.toString(), all)).toEqual([UNDER_TEST]);

    expect(await rows(versions)).toEqual(versionsBefore);
    expect(await rows(search)).toEqual(searchBefore);
    const [{ n: tokensAfter }] = await rows<{ n: string }>(`SELECT count(*) n FROM search_token`);
    expect(tokensAfter).toBe(tokensBefore);
    // The two codings of one version are ordinals 0 and 1; one value is ordinal 0.
    expect(
      await rows(
        `SELECT param, array_agg(DISTINCT ordinal ORDER BY ordinal) AS ordinals
         FROM search_token GROUP BY param ORDER BY param`,
      ),
    ).toEqual([
      { param: '_id', ordinals: [0] },
      { param: 'code', ordinals: [0, 1] },
    ]);
    const keys = await rows<{ table: string; columns: string }>(
      `SELECT c.conrelid::regclass::text AS table, pg_get_constraintdef(c.oid) AS columns
       FROM pg_constraint c WHERE c.contype = 'p' AND c.conrelid::regclass::text LIKE 'search_%'
       ORDER BY 1`,
    );
    expect(keys.map((k) => k.table)).toEqual([
      'search_date',
      'search_number',
      'search_quantity',
      'search_reference',
      'search_string',
      'search_token',
      'search_uri',
    ]);
    expect(new Set(keys.map((k) => k.columns))).toEqual(
      new Set(['PRIMARY KEY (seq, param, ordinal)']),
    );
    // A second value for an existing (seq, param, ordinal) is refused: the key holds.
    await expect(
      db.query(
        `INSERT INTO search_token (seq, type, param, ordinal, code)
         SELECT seq, type, param, ordinal, 'again' FROM search_token LIMIT 1`,
      ),
    ).rejects.toThrow(/pk_search_token/);
  });
});
