import type { Response } from 'express';

/**
 * OAuth 2.0 error codes: RFC 6749 5.2 (token endpoint) and RFC 7591 3.2.2 (client registration).
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_client_metadata'
  | 'temporarily_unavailable';

/** An OAuth error, answered as `{"error", "error_description"}` JSON by {@link sendOAuthError}. */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

/** Writes an RFC 6749 5.2 error response (no caching, JSON body). */
export function sendOAuthError(res: Response, error: OAuthError): void {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
  res
    .status(error.status)
    .set(headers)
    .json({ error: error.error, error_description: error.description });
}
