import { BullModule } from '@nestjs/bullmq';
import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { redisConnection } from './common/redis-connection';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { FhirModule } from './fhir/fhir.module';

/**
 * What every process needs, whatever its role: configuration, structured logs, PostgreSQL,
 * the BullMQ connection to Redis and the FHIR definitions.
 */
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CoreModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.LOG_LEVEL,
            autoLogging: { ignore: (req) => req.url?.startsWith('/health') ?? false },
            // The query string of a search or kick-off holds patient data (names, identifiers,
            // `_typeFilter` values): request lines are logged by path only.
            serializers: {
              req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
                id: req.id,
                method: req.method,
                path: req.url.split('?')[0],
                remoteAddress: req.remoteAddress,
              }),
            },
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
      ],
    };
  }
}
