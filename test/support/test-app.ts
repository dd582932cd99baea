import { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { AppConfig, loadConfig } from '../../src/config/app-config';

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
      'TRUNCATE resource, export_job, search_token, search_string, search_date, search_reference, search_quantity, search_number, search_uri',
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
  });
  afterAll(async () => {
    await booted?.close();
    booted = undefined;
  });
  if (reset === 'each') beforeEach(() => resetDatabase(current().app));
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
