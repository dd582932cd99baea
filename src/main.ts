import 'reflect-metadata';
import { Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { ConfigError, loadConfig } from './config/app-config';
import { migrate } from './database/migrate';
import { startEmbeddedAzurite } from './bulk-export/storage/embedded-azurite';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const applied = await migrate(config);

  // A laptop or demo without a storage account gets Azurite from our own dependencies,
  // restarted should it die. Nest's static Logger goes to pino once the app has taken it over.
  let embeddedAzurite: string | undefined;
  if (
    config.EXPORT_STORAGE === 'azure' &&
    !config.AZURE_STORAGE_CONNECTION_STRING &&
    !config.AZURE_STORAGE_ACCOUNT_URL
  ) {
    const azurite = await startEmbeddedAzurite({
      location: config.AZURITE_LOCATION,
      logger: new NestLogger('EmbeddedAzurite'),
    });
    config.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
    embeddedAzurite = azurite.connectionString.replace(/AccountKey=[^;]+/, 'AccountKey=…');
  }

  // Each role loads only its own modules: a worker never loads the HTTP side.
  if (config.ROLE === 'worker') {
    const { WorkerModule } = await import('./worker.module');
    const context = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
      bufferLogs: true,
    });
    context.useLogger(context.get(Logger));
    context.enableShutdownHooks([], { useProcessExit: true });
    boundShutdown(config.SHUTDOWN_TIMEOUT_MS);
    context
      .get(Logger)
      .log({ applied, role: config.ROLE, embeddedAzurite }, 'worker started', 'Bootstrap');
    return;
  }

  const { createApp } = await import('./app.factory');
  const app = await createApp(config);
  boundShutdown(config.SHUTDOWN_TIMEOUT_MS);
  await app.listen(config.PORT);
  app
    .get(Logger)
    .log(
      { applied, role: config.ROLE, port: config.PORT, embeddedAzurite },
      'server listening',
      'Bootstrap',
    );
}

/**
 * On SIGTERM or SIGINT the app's shutdown hooks release the worker's exports and let the API
 * finish its requests, each within `timeoutMs`, then exit 0. Should closing a connection hang
 * beyond that, the process exits anyway (code 1), so a deploy never waits on it.
 */
function boundShutdown(timeoutMs: number): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        process.stderr.write(`Shutdown took longer than ${timeoutMs + 5000} ms; exiting\n`);
        process.exit(1);
      }, timeoutMs + 5000).unref();
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
