import { Provider } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { DefaultAzureCredential, TokenCredential } from '@azure/identity';
import { AzureAccount, AzureBlobSink, DEFAULT_AZURE_RETRY } from './azure-blob.sink';
import { ExportSink } from './export-sink';
import { FilesystemSink } from './filesystem.sink';

/**
 * How the sink reaches the storage account: the connection string, or the account URL with
 * DefaultAzureCredential (managed identity, workload identity, environment, Azure CLI, in
 * that SDK's order). `credential` replaces that chain (tests).
 */
export function azureAccountOf(
  config: Pick<AppConfig, 'AZURE_STORAGE_CONNECTION_STRING' | 'AZURE_STORAGE_ACCOUNT_URL'>,
  credential: () => TokenCredential = () => new DefaultAzureCredential(),
): AzureAccount {
  if (config.AZURE_STORAGE_CONNECTION_STRING) {
    return { connectionString: config.AZURE_STORAGE_CONNECTION_STRING };
  }
  if (config.AZURE_STORAGE_ACCOUNT_URL) {
    return { accountUrl: config.AZURE_STORAGE_ACCOUNT_URL, credential: credential() };
  }
  // main.ts fills the connection string in from the embedded Azurite before the app is built.
  throw new Error(
    'EXPORT_STORAGE=azure needs AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL',
  );
}

/** The sink EXPORT_STORAGE selects. */
export function createExportSink(config: AppConfig): ExportSink {
  switch (config.EXPORT_STORAGE) {
    case 'filesystem':
      return new FilesystemSink({ root: config.EXPORT_FILESYSTEM_ROOT });
    case 'azure':
      return new AzureBlobSink({
        account: azureAccountOf(config),
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
