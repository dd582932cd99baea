import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { ClientRegistry } from '../clients/client-registry.service';
import jose from '../jose';
import { AccessPrincipal } from '../access/principal';
import { parseScopes } from '../scopes';
import { ACCESS_TOKEN_TYPE } from './access-token.service';
import { ServerKeys } from './server-keys.service';

export class InvalidTokenError extends Error {}

/**
 * Verifies the server's own access tokens (for the bearer-token guard of the FHIR API): the
 * signature with one of the server's keys, `typ`, expiry, and that the client is still
 * registered and not revoked (a primary-key lookup on every call, so a revocation takes
 * effect at once in every process).
 */
@Injectable()
export class TokenVerifier {
  constructor(
    private readonly keys: ServerKeys,
    private readonly clients: ClientRegistry,
    private readonly definitions: FhirDefinitions,
    private readonly config: AppConfig,
  ) {}

  /**
   * The token's principal; throws {@link InvalidTokenError} saying why it is not valid.
   * `audience`, when given, must be the token's `aud` (the service base URL).
   */
  async verify(token: string, options: { audience?: string } = {}): Promise<AccessPrincipal> {
    let payload: Record<string, unknown>;
    try {
      const { kid } = jose.decodeProtectedHeader(token);
      const key = this.keys.verificationKey(kid);
      if (!key)
        throw new InvalidTokenError('The access token was not signed by a key of this server');
      ({ payload } = await jose.jwtVerify(token, key.publicKey, {
        algorithms: [key.alg],
        typ: ACCESS_TOKEN_TYPE,
        audience: options.audience,
        requiredClaims: ['exp', 'sub', 'client_id', 'scope'],
      }));
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      const code = (error as { code?: unknown }).code;
      if (code === 'ERR_JWT_EXPIRED') throw new InvalidTokenError('The access token has expired');
      throw new InvalidTokenError(`The access token is not valid: ${(error as Error).message}`);
    }
    const clientId = payload.client_id;
    const scope = payload.scope;
    if (typeof clientId !== 'string' || typeof scope !== 'string' || payload.sub !== clientId) {
      throw new InvalidTokenError('The access token does not name its client and scopes');
    }
    const client = await this.clients.findActive(clientId);
    if (!client) throw new InvalidTokenError(`Client ${clientId} has been revoked`);
    return {
      clientId,
      scope,
      scopes: parseScopes(scope, (t) => this.definitions.isResourceType(t)),
      expiresAt: new Date((payload.exp as number) * 1000),
      containers: client.containers,
      maxConcurrentExports:
        client.maxConcurrentExports ?? this.config.EXPORT_MAX_CONCURRENT_PER_CLIENT,
    };
  }
}
