import { INestApplication } from '@nestjs/common';
import { createApp } from '../../src/app.factory';
import { AppConfig, loadConfig } from '../../src/config/app-config';

export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  close(): Promise<void>;
}

/** Boots the real application (all roles) against the test database, Redis and Azurite. */
export async function bootTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({ ...process.env, ...overrides });
  const app = await createApp(config);
  await app.init();
  return { app, config, close: () => app.close() };
}
