import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { ensureDatabase } from './ensure-database';

/** Arbitrary constant naming the advisory lock that serialises migration runs. */
const MIGRATION_LOCK_KEY = 727_001;

/**
 * Creates the database if needed and applies pending migrations; returns their names.
 * An advisory lock makes concurrent starts (an api and a worker process) take turns.
 */
export async function migrate(config: AppConfig): Promise<string[]> {
  await ensureDatabase(config.DATABASE_URL);
  const dataSource = new DataSource({ ...dataSourceOptions(config), entities: [] });
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.release();
    await dataSource.destroy();
  }
}
