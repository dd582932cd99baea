import {
  CanActivate,
  ExecutionContext,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { routeClaimOf } from '../../common/allowed-methods';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { AppConfig } from '../../config/app-config';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import type { Permission } from '../scopes';
import { InvalidTokenError, TokenVerifier } from '../token/token-verifier.service';
import { PUBLIC_ROUTE } from '../../common/public-route';
import { OPERATOR_ROUTE, TYPE_PERMISSION } from './access.decorators';
import { quoted, requirePermission } from './access-policy';
import { AccessPrincipal, principalOf, setPrincipal, UNRESTRICTED_PRINCIPAL } from './principal';

/**
 * The global guard (SMART Backend Services; RFC 6750): every route needs a valid bearer token
 * unless it is public or for operators. It establishes the request's principal, checks a
 * route's `@RequirePermission` against the `:type` it names.
 * With AUTH_REQUIRED=false every request acts as {@link UNRESTRICTED_PRINCIPAL}.
 */
@Injectable()
export class BearerTokenGuard implements CanActivate, OnApplicationBootstrap {
  private readonly logger = new Logger(BearerTokenGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
    private readonly definitions: FhirDefinitions,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.AUTH_REQUIRED) {
      this.logger.warn(
        'AUTH_REQUIRED=false: authorization is OFF and every caller has full access to every ' +
          'record. For local experiments only; never with real patient data.',
      );
    } else if (!this.config.PUBLIC_BASE_URL) {
      this.logger.warn(
        'PUBLIC_BASE_URL is unset: token audiences follow the Host header of each request, ' +
          'which callers choose. Set it in production.',
      );
    }
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    if (this.reflector.getAllAndOverride<boolean>(OPERATOR_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<Request>();
    // A route that passes this path on to the next one (see ClaimsPaths) leaves it to that
    // route: it neither authenticates nor refuses, so an unknown path stays a 404.
    const claim = routeClaimOf(context.getHandler());
    if (claim && !claim(req.params as Record<string, string>)) return true;

    // A path can pass several routes (`/{type}/{id}` hands `/_operations/...` on): verify once.
    let principal = principalOf(req);
    if (!principal) {
      principal = await this.authenticate(req);
      setPrincipal(req, principal);
    }
    const permission = this.reflector.get<Permission | undefined>(
      TYPE_PERMISSION,
      context.getHandler(),
    );
    const type = req.params.type as string | undefined;
    // An unknown type is the route's to answer (404); a lower-case segment is another route's.
    if (permission && type && this.definitions.isResourceType(type)) {
      requirePermission(principal, [type], [permission]);
    }
    return true;
  }

  private async authenticate(req: Request): Promise<AccessPrincipal> {
    if (!this.config.AUTH_REQUIRED) return UNRESTRICTED_PRINCIPAL;
    const [scheme, token, ...rest] = (req.headers.authorization ?? '').trim().split(/ +/);
    if (scheme?.toLowerCase() !== 'bearer') {
      throw unauthorized('This server requires a bearer access token (SMART Backend Services)');
    }
    if (!token || rest.length > 0) {
      throw unauthorized('The Authorization header must be "Bearer <access token>"', {
        error: 'invalid_token',
      });
    }
    try {
      return await this.verifier.verify(token, { audience: this.config.PUBLIC_BASE_URL });
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      throw unauthorized(error.message, { error: 'invalid_token' });
    }
  }
}

function unauthorized(message: string, challenge?: { error: string }): FhirException {
  const params = challenge
    ? `, error="${challenge.error}", error_description="${quoted(message)}"`
    : '';
  return new FhirException(FhirErrorCode.Unauthorized, message, {
    headers: { 'WWW-Authenticate': `Bearer realm="FHIR"${params}` },
  });
}
