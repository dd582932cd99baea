import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { ExportApiModule } from './bulk-export/export-api.module';
import { ExportWorkerModule } from './bulk-export/export-worker.module';
import { AppConfig } from './config/app-config';
import { CoreModule } from './core.module';
import { HealthModule } from './health/health.module';
import { MetadataModule } from './metadata/metadata.module';
import { ResourcesModule } from './resources/resources.module';
import { SearchModule } from './search/search.module';

/**
 * The HTTP server: the FHIR REST API, search, `$export`, authorization and health (`ROLE=api`), plus the
 * export worker when `ROLE=all` (the default). A `ROLE=worker` process runs
 * `WorkerModule` instead, which loads none of the HTTP side.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config),
        HealthModule,
        MetadataModule,
        AuthModule,
        ResourcesModule,
        SearchModule,
        ExportApiModule,
        ...(config.ROLE === 'all' ? [ExportWorkerModule.forRoot(config)] : []),
      ],
    };
  }
}
