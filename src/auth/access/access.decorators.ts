import {
  applyDecorators,
  createParamDecorator,
  ExecutionContext,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import { ApiBasicAuth, ApiBearerAuth } from '@nestjs/swagger';
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

/** Declares in the OpenAPI document that a controller's operations need a bearer token. */
export const ApiBearerToken = () => ApiBearerAuth(BEARER_SCHEME);
