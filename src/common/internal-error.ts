import { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { operationOutcome, OperationOutcome } from './operation-outcome';

/**
 * Logs an unexpected error with a fresh correlation id and returns the OperationOutcome a client
 * may see: the id to quote, none of the details.
 */
export function internalError(
  logger: LoggerService,
  error: unknown,
  what: string,
): OperationOutcome {
  const correlationId = randomUUID();
  logger.error(
    { err: error, correlationId },
    `${what} (${correlationId}): ${error instanceof Error ? error.message : String(error)}`,
  );
  return operationOutcome(
    'error',
    'exception',
    `Internal server error; quote correlation id ${correlationId} when reporting it`,
  );
}
