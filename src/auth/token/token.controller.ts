import { Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { baseUrlOf } from '../../common/base-url';
import { Public } from '../../common/public-route';
import { AppConfig } from '../../config/app-config';
import { ApiToken } from '../auth-api.decorators';
import { TOKEN_PATH, tokenUrlOf } from '../auth-paths';
import { AuditLog } from '../audit/audit-log.service';
import jose from '../jose';
import { OAuthError, sendOAuthError } from '../oauth-error';
import { TokenService } from './token.service';

/**
 * The token endpoint (SMART Backend Services "Obtaining an access token"; RFC 6749 4.4 with
 * RFC 7523 client authentication). Errors are RFC 6749 5.2 JSON, not OperationOutcomes.
 */
@Controller(TOKEN_PATH)
@Public()
export class TokenController {
  constructor(
    private readonly tokens: TokenService,
    private readonly audit: AuditLog,
    private readonly config: AppConfig,
  ) {}

  @Post()
  @HttpCode(200)
  @ApiToken()
  async token(@Req() req: Request, @Res() res: Response): Promise<void> {
    const baseUrl = baseUrlOf(req, this.config);
    try {
      if (!req.is('application/x-www-form-urlencoded')) {
        throw new OAuthError(
          'invalid_request',
          'The token request body must be application/x-www-form-urlencoded',
        );
      }
      const { clientId, response } = await this.tokens.token(
        req.body as Record<string, unknown> | undefined,
        {
          baseUrl,
          tokenUrl: tokenUrlOf(baseUrl),
        },
      );
      res.status(200).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json(response);
      void this.audit.record({
        action: 'token.issued',
        clientId,
        types: scopeTypes(response.scope),
        outcome: 200,
        detail: `scope ${response.scope}`,
        remoteAddress: req.ip ?? null,
      });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      sendOAuthError(res, error);
      void this.audit.record({
        action: 'token.refused',
        clientId: claimedClient(req.body),
        outcome: error.status,
        detail: `${error.error}: ${error.description}`,
        remoteAddress: req.ip ?? null,
      });
    }
  }
}

/** The `iss` a refused assertion claims, unverified: who tried, as far as can be told. */
function claimedClient(form: unknown): string | null {
  const assertion = (form as Record<string, unknown> | undefined)?.client_assertion;
  if (typeof assertion !== 'string') return null;
  try {
    const { iss } = jose.decodeJwt(assertion);
    return typeof iss === 'string' ? iss.slice(0, 128) : null;
  } catch {
    return null;
  }
}

/** The resource types a granted scope names (`*` for all). */
function scopeTypes(scope: string): string[] {
  return [...new Set(scope.split(' ').map((s) => s.replace(/^system\/([^.]+)\..*$/, '$1')))];
}
