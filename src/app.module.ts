import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { BulkExportModule } from './bulk-export/bulk-export.module';
import { redisConnection } from './common/redis-connection';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { FhirModule } from './fhir/fhir.module';
import { HealthModule } from './health/health.module';
import { MetadataModule } from './metadata/metadata.module';
import { ResourcesModule } from './resources/resources.module';
import { SearchModule } from './search/search.module';

/**
 * The whole server. `ROLE` decides which parts a process runs: `api` serves HTTP,
 * `worker` runs export jobs, `all` (the default) does both.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.LOG_LEVEL,
            autoLogging: { ignore: (req) => req.url?.startsWith('/health') ?? false },
            // Query parameters and driver details of database errors can hold patient data.
            redact: {
              paths: [
                'req.headers.authorization',
                'err.parameters',
                'err.query',
                'err.driverError',
              ],
              remove: true,
            },
          },
        }),
        DatabaseModule,
        BullModule.forRoot({
          connection: redisConnection(config.REDIS_URL),
          prefix: config.QUEUE_PREFIX,
        }),
        FhirModule,
        HealthModule,
        MetadataModule,
        ResourcesModule,
        SearchModule,
        BulkExportModule.forRoot(config),
      ],
    };
  }
}
