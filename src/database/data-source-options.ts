import { join } from 'node:path';
import { DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';

/**
 * The one TypeORM configuration, shared by the application and the migration CLI so the
 * two cannot drift. Schema changes only through migrations: `synchronize` stays off.
 */
export function dataSourceOptions(config: AppConfig): DataSourceOptions {
  return {
    type: 'postgres',
    url: config.DATABASE_URL,
    synchronize: false,
    migrationsRun: false,
    migrationsTableName: 'migrations',
    // Compiled migrations live beside compiled src in dist/; ts-jest loads the .ts ones.
    migrations: [join(__dirname, '..', '..', 'migrations', '*.{js,ts}')],
    entities: [join(__dirname, '..', '**', '*.entity.{js,ts}')],
    extra: {
      max: 20,
      application_name: `fhir-server:${config.ROLE}`,
      connectionTimeoutMillis: config.DEPENDENCY_TIMEOUT_MS,
      // A server that vanished without closing the connection (a dropped network, a failed-over
      // host) would leave a query waiting forever; TCP keepalive turns that into an error.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    },
  };
}
