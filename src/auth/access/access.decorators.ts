import {
  applyDecorators,
  createParamDecorator,
  ExecutionContext,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import { ApiBasicAuth, ApiBearerAuth, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { OperationOutcomeDto } from '../../openapi/schemas.dto';
import type { Request } from 'express';
import { BEARER_SCHEME, OPERATOR_SCHEME } from '../../openapi/openapi-security';
import { OperatorGuard } from '../clients/operator.guard';
import type { Permission } from '../scopes';
import { AccessPrincipal, requirePrincipal } from './principal';

export const OPERATOR_ROUTE = 'auth:operator';
export const TYPE_PERMISSION = 'auth:type-permission';

/** For operators (HTTP Basic, ADMIN_CREDENTIALS) instead of a client's bearer token. */
export const OperatorOnly = () =>
  applyDecorators(
    SetMetadata(OPERATOR_ROUTE, true),
    UseGuards(OperatorGuard),
    ApiBasicAuth(OPERATOR_SCHEME),
  );

/**
 * The token's scopes must grant `permission` on the resource type in the route's `:type`
 * (checked by the bearer-token guard; 403 otherwise).
 */
export const RequirePermission = (permission: Permission) =>
  SetMetadata(TYPE_PERMISSION, permission);

/** The request's {@link AccessPrincipal}, as the bearer-token guard established it. */
export const Principal = createParamDecorator(
  (_: unknown, context: ExecutionContext): AccessPrincipal => {
    // Not on routes that pass paths on (ClaimsPaths): they use requirePrincipal once they keep one.
    return requirePrincipal(context.switchToHttp().getRequest<Request>());
  },
);

const OUTCOME = {
  'application/fhir+json': { schema: { $ref: getSchemaPath(OperationOutcomeDto) } },
};

/**
 * Declares in the OpenAPI document that a controller's operations need a bearer token, and
 * what they answer without one (401) or beyond its scopes (403).
 */
export const ApiBearerToken = () =>
  applyDecorators(
    ApiBearerAuth(BEARER_SCHEME),
    ApiResponse({
      status: 401,
      description: 'No valid access token (WWW-Authenticate: Bearer).',
      content: OUTCOME,
    }),
    ApiResponse({
      status: 403,
      description: "The token's scopes do not cover the call (insufficient_scope).",
      content: OUTCOME,
    }),
  );
