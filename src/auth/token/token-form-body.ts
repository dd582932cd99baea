import type { NextFunction, Request, Response } from 'express';
import { urlencoded } from 'express';
import { OAuthError, sendOAuthError } from '../oauth-error';

/** A token request is a few parameters and one assertion; anything larger is refused. */
const TOKEN_REQUEST_LIMIT = '32kb';

const parse = urlencoded({
  extended: false,
  limit: TOKEN_REQUEST_LIMIT,
  type: 'application/x-www-form-urlencoded',
});

/**
 * Reads the token request's form body (RFC 6749 4.4.2), answering unreadable bodies with an
 * OAuth `invalid_request` rather than an OperationOutcome.
 */
export function tokenFormBody(req: Request, res: Response, next: NextFunction): void {
  parse(req, res, (error?: { type?: string; message?: string }) => {
    if (!error) return next();
    const description =
      error.type === 'entity.too.large'
        ? `The token request body exceeds ${TOKEN_REQUEST_LIMIT}`
        : `The token request body cannot be read: ${error.message ?? ''}`;
    sendOAuthError(
      res,
      new OAuthError('invalid_request', description, error.type === 'entity.too.large' ? 413 : 400),
    );
  });
}
