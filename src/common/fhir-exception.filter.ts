import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { FHIR_JSON } from './fhir-content-types';
import { dependencyUnavailable, isDependencyUnavailable } from './dependency-unavailable';
import { FhirErrorCode, FhirException } from './fhir-exception';
import { internalError } from './internal-error';
import { IssueType, operationOutcome, OperationOutcome } from './operation-outcome';

export function assertUnreachable(value: never): never {
  throw new Error(`Unhandled case: ${String(value)}`);
}

/** HTTP status for each error code (exhaustive: a new code does not compile until mapped). */
export function httpStatusOf(code: FhirErrorCode): number {
  switch (code) {
    case FhirErrorCode.BadRequest:
      return 400;
    case FhirErrorCode.Unauthorized:
      return 401;
    case FhirErrorCode.Forbidden:
      return 403;
    case FhirErrorCode.NotFound:
      return 404;
    case FhirErrorCode.MethodNotAllowed:
      return 405;
    case FhirErrorCode.NotAcceptable:
      return 406;
    case FhirErrorCode.Conflict:
      return 409;
    case FhirErrorCode.Gone:
      return 410;
    case FhirErrorCode.PreconditionFailed:
      return 412;
    case FhirErrorCode.PayloadTooLarge:
      return 413;
    case FhirErrorCode.UnsupportedMediaType:
      return 415;
    case FhirErrorCode.Unprocessable:
      return 422;
    case FhirErrorCode.TooManyRequests:
      return 429;
    case FhirErrorCode.Internal:
      return 500;
    case FhirErrorCode.Unavailable:
      return 503;
    default:
      return assertUnreachable(code);
  }
}

/** Answers `exception` as its HTTP status, headers and OperationOutcome; for middleware outside Nest's filters. */
export function sendFhirException(response: Response, exception: FhirException): void {
  for (const [name, value] of Object.entries(exception.headers)) response.setHeader(name, value);
  response
    .status(httpStatusOf(exception.code))
    .type(FHIR_JSON)
    .send(JSON.stringify(exception.outcome));
}

function issueTypeForStatus(status: number): IssueType {
  if (status === 404) return 'not-found';
  if (status === 405 || status === 406 || status === 415) return 'not-supported';
  if (status === 413) return 'too-long';
  if (status === 401) return 'login';
  if (status === 403) return 'forbidden';
  if (status === 409 || status === 412) return 'conflict';
  if (status >= 500) return 'exception';
  return 'invalid';
}

function httpExceptionMessage(body: string | object, fallback: string): string {
  if (typeof body === 'string') return body;
  const message = (body as { message?: unknown }).message;
  if (Array.isArray(message)) return message.map(String).join('; ');
  return typeof message === 'string' ? message : fallback;
}

/**
 * Turns every error into a FHIR OperationOutcome. Known errors keep their message; anything
 * unexpected answers 500 with a correlation id and its details go to the log only.
 */
@Catch()
export class FhirExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('FhirExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const { status, outcome, headers } = this.describe(exception);
    if (response.headersSent) {
      response.end();
      return;
    }
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    response.status(status).type(FHIR_JSON).send(JSON.stringify(outcome));
  }

  private describe(exception: unknown): {
    status: number;
    outcome: OperationOutcome;
    headers: Record<string, string>;
  } {
    if (exception instanceof FhirException) {
      return {
        status: httpStatusOf(exception.code),
        outcome: exception.outcome,
        headers: exception.headers,
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const message = httpExceptionMessage(body, exception.message);
      if (status >= 500) return this.unexpected(exception);
      return {
        status,
        outcome: operationOutcome('error', issueTypeForStatus(status), message),
        headers: {},
      };
    }
    if (isDependencyUnavailable(exception)) {
      // An outage, not a bug: the client may retry; the details (hosts, ports) stay in the log.
      this.logger.warn(
        { err: exception },
        `A dependency is unavailable: ${exception instanceof Error ? exception.message : String(exception)}`,
      );
      const unavailable = dependencyUnavailable('database, job queue or file storage');
      return { status: 503, outcome: unavailable.outcome, headers: unavailable.headers };
    }
    return this.unexpected(exception);
  }

  private unexpected(exception: unknown) {
    return {
      status: 500,
      outcome: internalError(this.logger, exception, 'Unexpected error'),
      headers: {},
    };
  }
}
