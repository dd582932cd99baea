import { Provider } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { AzureBlobSink, DEFAULT_AZURE_RETRY } from './azure-blob.sink';
import { ExportSink } from './export-sink';
import { FilesystemSink } from './filesystem.sink';

/** The sink EXPORT_STORAGE selects. */
export function createExportSink(config: AppConfig): ExportSink {
  switch (config.EXPORT_STORAGE) {
    case 'filesystem':
      return new FilesystemSink({ root: config.EXPORT_FILESYSTEM_ROOT });
    case 'azure':
      if (!config.AZURE_STORAGE_CONNECTION_STRING) {
        // main.ts fills it in from the embedded Azurite before the app is built.
        throw new Error('EXPORT_STORAGE=azure needs AZURE_STORAGE_CONNECTION_STRING');
      }
      return new AzureBlobSink({
        connectionString: config.AZURE_STORAGE_CONNECTION_STRING,
        requestTimeoutMs: config.STORAGE_REQUEST_TIMEOUT_MS,
        retry: {
          maxTries: config.STORAGE_MAX_TRIES,
          retryDelayInMs: config.STORAGE_RETRY_DELAY_MS,
          maxRetryDelayInMs: Math.max(
            DEFAULT_AZURE_RETRY.maxRetryDelayInMs,
            config.STORAGE_RETRY_DELAY_MS,
          ),
        },
      });
  }
}

export const exportSinkProvider: Provider = {
  provide: ExportSink,
  useFactory: createExportSink,
  inject: [AppConfig],
};
