import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { INestApplication, Logger } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { FHIR_JSON } from '../common/fhir-content-types';
import { operationOutcome } from '../common/operation-outcome';
import { isOperator, OPERATOR_CHALLENGE } from '../common/operator-credentials';
import { EXPORT_QUEUE } from '../bulk-export/export-queue';
import { EXPORT_MAINTENANCE_QUEUE } from '../bulk-export/retention/export-maintenance.queue';

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Basic authentication for Bull Board. The board is Express middleware, outside Nest's
 * guards, so it carries its own check.
 */
export function operatorAuth(credentials: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (isOperator(req.headers.authorization, credentials)) {
      next();
      return;
    }
    res
      .status(401)
      .set('WWW-Authenticate', OPERATOR_CHALLENGE)
      .type(FHIR_JSON)
      .send(JSON.stringify(operationOutcome('error', 'login', 'Operator credentials required')));
  };
}

/**
 * Mounts Bull Board at /admin/queues showing the export queue and the maintenance queue (the
 * retention purge, its schedule and runs), for operators holding ADMIN_CREDENTIALS. Without
 * credentials configured the board stays off.
 */
export function mountBullBoard(app: INestApplication, config: AppConfig): void {
  const logger = new Logger('BullBoard');
  if (!config.ADMIN_CREDENTIALS) {
    logger.log('ADMIN_CREDENTIALS unset: Bull Board is disabled');
    return;
  }
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  const queues = [EXPORT_QUEUE, EXPORT_MAINTENANCE_QUEUE].map(
    (name) => new BullMQAdapter(app.get<Queue>(getQueueToken(name))),
  );
  createBullBoard({ queues, serverAdapter });
  app.use(
    BULL_BOARD_PATH,
    operatorAuth(config.ADMIN_CREDENTIALS),
    serverAdapter.getRouter() as (req: Request, res: Response, next: NextFunction) => void,
  );
}
