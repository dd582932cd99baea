import { Injectable } from '@nestjs/common';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { OAuthError } from '../oauth-error';
import { grantScopes, parseScopes, Scope, ScopeError } from '../scopes';
import { AccessTokenIssuer, TokenResponse } from './access-token.service';
import { ClientAssertionVerifier } from './client-assertion.service';
import { ReplayStore } from './replay-store.service';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * The client credentials grant of SMART Backend Services ("Obtaining an access token"):
 * checks the request parameters, the client assertion, the requested scopes against the
 * client's registration, the assertion's `jti` against replay (last, so a refused request
 * stores nothing), then issues the token.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly assertions: ClientAssertionVerifier,
    private readonly replay: ReplayStore,
    private readonly issuer: AccessTokenIssuer,
    private readonly definitions: FhirDefinitions,
  ) {}

  async token(
    form: Record<string, unknown> | undefined,
    urls: { tokenUrl: string; baseUrl: string },
  ): Promise<{ clientId: string; response: TokenResponse }> {
    const params = singleValues(form);
    const grantType = params.grant_type;
    if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
    if (grantType !== 'client_credentials') {
      throw new OAuthError(
        'unsupported_grant_type',
        `grant_type "${grantType}" is not supported; use client_credentials`,
      );
    }
    if (params.client_assertion_type !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError(
        'invalid_request',
        `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`,
      );
    }
    const assertionText = params.client_assertion;
    if (!assertionText) throw new OAuthError('invalid_request', 'client_assertion is required');
    if (params.scope === undefined || params.scope.trim() === '') {
      throw new OAuthError(
        'invalid_scope',
        'scope is required: the system/ scopes the token is for',
      );
    }
    const requested = this.parse(params.scope);
    const assertion = await this.assertions.verify(assertionText, urls.tokenUrl);
    const clientId = assertion.client.clientId;
    if (params.client_id !== undefined && params.client_id !== clientId) {
      throw new OAuthError('invalid_client', 'client_id does not match the client_assertion iss');
    }
    const granted = grantScopes(requested, this.parse(assertion.client.scope));
    if (granted.length === 0) {
      throw new OAuthError(
        'invalid_scope',
        `None of the requested scopes is granted to client ${clientId}; it is registered for: ${assertion.client.scope}`,
      );
    }
    let fresh: boolean;
    try {
      fresh = await this.replay.claim(clientId, assertion.jti, assertion.expiresAt);
    } catch {
      throw new OAuthError(
        'temporarily_unavailable',
        'The replay store (Redis) is unavailable; try again',
        503,
      );
    }
    if (!fresh) {
      throw new OAuthError(
        'invalid_client',
        `client_assertion jti "${assertion.jti}" was already used`,
      );
    }
    const response = await this.issuer.issue({
      clientId,
      scope: granted.join(' '),
      baseUrl: urls.baseUrl,
    });
    return { clientId, response };
  }

  private parse(scope: string): Scope[] {
    try {
      return parseScopes(scope, (t) => this.definitions.isResourceType(t));
    } catch (error) {
      if (error instanceof ScopeError) throw new OAuthError('invalid_scope', error.message);
      throw error;
    }
  }
}

/** The form's parameters; a repeated one is refused (RFC 6749 3.2). */
function singleValues(
  form: Record<string, unknown> | undefined,
): Record<string, string | undefined> {
  if (!form || typeof form !== 'object') {
    throw new OAuthError(
      'invalid_request',
      'The token request body must be application/x-www-form-urlencoded',
    );
  }
  const values: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(form)) {
    if (typeof value !== 'string') {
      throw new OAuthError('invalid_request', `Parameter ${name} is given more than once`);
    }
    values[name] = value;
  }
  return values;
}
