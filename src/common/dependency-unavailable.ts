import { FhirErrorCode, FhirException } from './fhir-exception';

/** Socket-level failures: the peer is down, restarting, unreachable or too slow. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Whether an errno `code` is a socket's (never a local file's). */
export function isNetworkErrorCode(code: string): boolean {
  return NETWORK_CODES.has(code);
}

/**
 * PostgreSQL SQLSTATEs that say the server cannot serve now, not that the request is wrong:
 * class 08 (connection exception), admin/crash shutdown, starting up, too many connections.
 */
function isUnavailableSqlState(code: string): boolean {
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code);
}

/** What node-postgres says when a connection dies or cannot be made in time. */
const POSTGRES_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error and is not queryable/i,
];

/**
 * Whether `error` (or what it wraps: TypeORM's `driverError`, a `cause`, an AggregateError's
 * errors) means a dependency is unavailable for now, so the request can succeed later.
 */
export function isDependencyUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 4 || typeof error !== 'object' || error === null) return false;
  const { code, message, driverError, cause, errors } = error as {
    code?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || isUnavailableSqlState(code))) {
    return true;
  }
  if (typeof message === 'string' && POSTGRES_MESSAGES.some((m) => m.test(message))) return true;
  const inner: unknown[] = [
    driverError,
    cause,
    ...(Array.isArray(errors) ? (errors as unknown[]) : []),
  ];
  return inner.some((e) => isDependencyUnavailable(e, depth + 1));
}

/** Seconds a client is asked to wait before retrying a request a dependency outage refused. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 10;

/** The 503 a client gets while a dependency is down: what failed, when to retry, no details. */
export function dependencyUnavailable(what: string): FhirException {
  return new FhirException(
    FhirErrorCode.Unavailable,
    `The ${what} is unavailable; try again later`,
    { headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) } },
  );
}
