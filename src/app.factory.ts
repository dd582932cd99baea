import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, NestExpressApplication } from '@nestjs/platform-express';
import express, { NextFunction, Request, Response } from 'express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';
import { fhirJsonBody } from './common/fhir-json-body';
import { FhirExceptionFilter } from './common/fhir-exception.filter';
import { methodHandling } from './common/allowed-methods';
import { answerClientErrors, uriLengthLimit } from './common/http-limits';
import { mountBullBoard } from './admin/bull-board';
import { mountOpenApi } from './openapi/openapi';

/** Express's `trust proxy` from TRUST_PROXY: true/false, a hop count, or addresses/subnets. */
function trustProxy(value: string): boolean | number | string {
  if (value === 'true' || value === 'false') return value === 'true';
  return /^\d+$/.test(value) ? Number(value) : value;
}

/**
 * Builds the HTTP application exactly as production runs it; tests boot the same thing.
 * Migrations must already be applied (see `migrate`).
 */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  // FHIR URLs are case-sensitive (`/patient/$export` is not `/Patient/$export`), and so is every
  // access decision made on a path: Express must not match routes case-insensitively.
  const server = express();
  server.set('case sensitive routing', true);
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.forRoot(config),
    new ExpressAdapter(server),
    { bodyParser: false, bufferLogs: true },
  );
  app.useLogger(app.get(Logger));
  app.set('trust proxy', trustProxy(config.TRUST_PROXY));
  app.set('etag', false);
  app.disable('x-powered-by');
  answerClientErrors(app.getHttpServer());
  // Before the body is read: an overlong URI is 414 and a method no route takes is 405.
  app.use(uriLengthLimit());
  app.use(methodHandling(app));
  // A body is parsed only for a caller with credentials: without them the answer is 401 anyway
  // (the open routes take no JSON), and parsing up to MAX_BODY_SIZE first would be work for free.
  const parseBody = fhirJsonBody(config.MAX_BODY_SIZE);
  app.use((req: Request, res: Response, next: NextFunction) =>
    config.AUTH_REQUIRED && req.headers.authorization === undefined
      ? next()
      : parseBody(req, res, next),
  );
  app.useGlobalFilters(new FhirExceptionFilter());
  mountBullBoard(app, config);
  mountOpenApi(app);
  // Exit 0 once the hooks are done (Nest would re-raise the signal); see main.ts for the bound.
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
