import { DynamicModule, Module } from '@nestjs/common';
import { ExportWorkerModule } from './bulk-export/export-worker.module';
import { AppConfig } from './config/app-config';
import { CoreModule } from './core.module';

/**
 * A `ROLE=worker` process: export jobs only. It composes no HTTP server, REST controllers,
 * OpenAPI, Bull Board or search-index writer, so each added worker costs only what an export
 * needs.
 */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [CoreModule.forRoot(config), ExportWorkerModule.forRoot(config)],
    };
  }
}
