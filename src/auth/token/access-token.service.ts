import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import jose from '../jose';
import { ServerKeys } from './server-keys.service';

/** The successful token response (RFC 6749 5.1; SMART Backend Services "Response"). */
export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
}

/** The JWT `typ` of the server's access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/**
 * Issues access tokens: JWTs signed with the server's key, valid AUTH_TOKEN_LIFETIME_S
 * (at most 300 s), carrying the client id and the granted scopes. No refresh tokens.
 */
@Injectable()
export class AccessTokenIssuer {
  constructor(
    private readonly keys: ServerKeys,
    private readonly config: AppConfig,
  ) {}

  async issue(input: { clientId: string; scope: string; baseUrl: string }): Promise<TokenResponse> {
    const key = this.keys.signingKey();
    const lifetime = this.config.AUTH_TOKEN_LIFETIME_S;
    const now = Math.floor(Date.now() / 1000);
    const token = await new jose.SignJWT({ client_id: input.clientId, scope: input.scope })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(input.baseUrl)
      .setAudience(input.baseUrl)
      .setSubject(input.clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetime)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { access_token: token, token_type: 'bearer', expires_in: lifetime, scope: input.scope };
  }
}
