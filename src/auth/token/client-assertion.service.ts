import { Injectable } from '@nestjs/common';
import { AuthClientEntity } from '../clients/auth-client.entity';
import { ClientRegistry } from '../clients/client-registry.service';
import jose from '../jose';
import type { JWK, JWTPayload } from '../jose';
import { OAuthError } from '../oauth-error';
import { JwksFetcher, JwksFetchError } from './jwks-fetcher.service';

/** The signature algorithms SMART Backend Services require servers to support. */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'] as const;
/** How far ahead of now an assertion's `exp` may be (SMART: "no more than five minutes"). */
export const MAX_ASSERTION_LIFETIME_S = 300;
/** Clock skew allowed between the client and the server. */
const CLOCK_TOLERANCE_S = 5;

/** A client assertion that verified. */
export interface VerifiedAssertion {
  client: AuthClientEntity;
  jti: string;
  expiresAt: Date;
}

function invalidClient(description: string): OAuthError {
  return new OAuthError('invalid_client', description);
}

/**
 * Verifies a client assertion (RFC 7523 3 and SMART Backend Services "Authenticating to the
 * token endpoint"): a JWS signed RS384 or ES384 with the key its `kid` names in the client's
 * registered JWK Set or JWKS URL (`jku`, if present, must be that URL); `iss` = `sub` = the
 * client_id of a registered, unrevoked client; `aud` = the token URL; `exp` present, not past
 * and at most five minutes ahead; a `jti`. Replay is checked by the caller, last, so a request
 * that fails for any other reason stores nothing.
 */
@Injectable()
export class ClientAssertionVerifier {
  constructor(
    private readonly clients: ClientRegistry,
    private readonly jwks: JwksFetcher,
  ) {}

  async verify(assertion: string, tokenUrl: string): Promise<VerifiedAssertion> {
    const parts = assertion.split('.');
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) {
      throw invalidClient(
        'client_assertion is not a compact JWS (three base64url parts joined by dots)',
      );
    }
    let header: ReturnType<typeof jose.decodeProtectedHeader>;
    let claims: JWTPayload;
    try {
      header = jose.decodeProtectedHeader(assertion);
      claims = jose.decodeJwt(assertion);
    } catch (error) {
      throw invalidClient(`client_assertion cannot be decoded: ${(error as Error).message}`);
    }
    const alg = header.alg;
    if (alg === 'none' || parts[2] === '') {
      throw invalidClient('client_assertion is unsigned (alg "none"); sign it with RS384 or ES384');
    }
    if (!ASSERTION_ALGORITHMS.includes(alg as (typeof ASSERTION_ALGORITHMS)[number])) {
      throw invalidClient(
        `client_assertion alg "${String(alg)}" is not accepted; sign it with RS384 or ES384`,
      );
    }
    if (typeof header.kid !== 'string' || header.kid === '') {
      throw invalidClient('client_assertion header has no kid naming the signing key');
    }
    const clientId = claims.iss;
    if (typeof clientId !== 'string' || clientId === '') {
      throw invalidClient('client_assertion has no iss: it must be the client_id');
    }
    if (claims.sub !== clientId) {
      throw invalidClient('client_assertion iss and sub must both be the client_id');
    }
    const client = await this.clients.find(clientId);
    if (!client) throw invalidClient(`Client ${clientId} is not registered`);
    if (client.revokedAt) throw invalidClient(`Client ${clientId} has been revoked`);
    if (header.jku !== undefined && header.jku !== client.jwksUri) {
      throw invalidClient(
        `client_assertion jku "${String(header.jku)}" is not the JWKS URL registered for client ${clientId}`,
      );
    }
    const jwk = await this.keyOf(client, header.kid);
    let key: Awaited<ReturnType<typeof jose.importJWK>>;
    try {
      key = await jose.importJWK(jwk, alg);
    } catch (error) {
      throw invalidClient(
        `Key ${header.kid} cannot verify ${String(alg)}: ${(error as Error).message}`,
      );
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(assertion, key, {
        algorithms: [alg as string],
        issuer: clientId,
        subject: clientId,
        audience: tokenUrl,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (error) {
      throw invalidClient(this.describe(error, tokenUrl, header.kid));
    }
    const exp = payload.exp as number;
    const now = Math.floor(Date.now() / 1000);
    if (exp > now + MAX_ASSERTION_LIFETIME_S + CLOCK_TOLERANCE_S) {
      throw invalidClient(
        `client_assertion exp is ${exp - now} s ahead; it must be at most ${MAX_ASSERTION_LIFETIME_S} s in the future`,
      );
    }
    const jti = payload.jti;
    if (typeof jti !== 'string' || jti === '' || jti.length > 256) {
      throw invalidClient('client_assertion jti must be a string of 1-256 characters');
    }
    return { client, jti, expiresAt: new Date((exp + CLOCK_TOLERANCE_S) * 1000) };
  }

  private async keyOf(client: AuthClientEntity, kid: string): Promise<JWK> {
    let key: JWK | undefined;
    if (client.jwks) {
      key = client.jwks.keys.find((k) => k.kid === kid);
    } else if (client.jwksUri) {
      try {
        key = await this.jwks.key(client.jwksUri, kid);
      } catch (error) {
        if (!(error instanceof JwksFetchError)) throw error;
        throw invalidClient(`Cannot get the keys of client ${client.clientId}: ${error.message}`);
      }
    }
    if (!key) throw invalidClient(`Client ${client.clientId} has no key with kid "${kid}"`);
    return key;
  }

  private describe(error: unknown, tokenUrl: string, kid: string): string {
    const { code, claim } = error as { code?: string; claim?: string };
    switch (code ?? '') {
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return `client_assertion signature does not verify with key ${kid}`;
      case 'ERR_JWT_EXPIRED':
        return 'client_assertion has expired (exp is in the past)';
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        if (claim === 'aud') return `client_assertion aud must be the token URL ${tokenUrl}`;
        if (claim === 'exp') return 'client_assertion has no exp';
        if (claim === 'jti') return 'client_assertion has no jti';
        return `client_assertion claim ${claim ?? '?'} is not valid: ${(error as Error).message}`;
      case 'ERR_JWT_INVALID':
      case 'ERR_JWS_INVALID':
        return `client_assertion is malformed: ${(error as Error).message}`;
      default:
        return `client_assertion is not valid: ${(error as Error).message}`;
    }
  }
}
