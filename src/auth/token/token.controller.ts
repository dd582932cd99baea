import { Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { baseUrlOf } from '../../common/base-url';
import { AppConfig } from '../../config/app-config';
import { ApiToken } from '../auth-api.decorators';
import { TOKEN_PATH, tokenUrlOf } from '../auth-paths';
import { OAuthError, sendOAuthError } from '../oauth-error';
import { TokenService } from './token.service';

/**
 * The token endpoint (SMART Backend Services "Obtaining an access token"; RFC 6749 4.4 with
 * RFC 7523 client authentication). Errors are RFC 6749 5.2 JSON, not OperationOutcomes.
 */
@Controller(TOKEN_PATH)
export class TokenController {
  constructor(
    private readonly tokens: TokenService,
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
      const response = await this.tokens.token(req.body as Record<string, unknown> | undefined, {
        baseUrl,
        tokenUrl: tokenUrlOf(baseUrl),
      });
      res.status(200).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json(response);
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      sendOAuthError(res, error);
    }
  }
}
