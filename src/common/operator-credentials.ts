import { timingSafeEqual } from 'node:crypto';

/** The challenge a request without operator credentials is answered with. */
export const OPERATOR_CHALLENGE = 'Basic realm="operators", charset="UTF-8"';

/**
 * Whether an `Authorization` header carries the operator credentials (`user:password` from
 * ADMIN_CREDENTIALS) as HTTP Basic, compared in constant time. Bull Board and the client
 * administration share it.
 */
export function isOperator(authorization: string | undefined, credentials: string): boolean {
  const header = authorization ?? '';
  const given = Buffer.from(
    header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString('utf8') : '',
  );
  const expected = Buffer.from(credentials);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
