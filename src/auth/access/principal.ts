import type { Request } from 'express';
import { Scope } from '../scopes';

/** Who a request acts for: the client of its access token and what that token grants. */
export interface AccessPrincipal {
  clientId: string;
  /** The granted scopes as the token carries them (space-separated). */
  scope: string;
  scopes: Scope[];
  expiresAt: Date;
  /** Containers the client may name in `_container`; `any` only when authorization is off. */
  containers: readonly string[] | 'any';
  /** Unfinished exports the client may have at once; null (authorization off): no limit. */
  maxConcurrentExports: number | null;
}

/**
 * The principal of every request when AUTH_REQUIRED=false: full access, and the empty client
 * id that exports started before authorization existed carry, so they stay reachable.
 */
export const UNRESTRICTED_PRINCIPAL: AccessPrincipal = Object.freeze({
  clientId: '',
  scope: 'system/*.cruds',
  scopes: [
    {
      resourceType: '*',
      permissions: new Set(['c', 'r', 'u', 'd', 's'] as const),
      version: 2 as const,
    },
  ],
  expiresAt: new Date(8.64e15),
  containers: 'any',
  maxConcurrentExports: null,
});

type WithPrincipal = Request & { principal?: AccessPrincipal };

export function setPrincipal(req: Request, principal: AccessPrincipal): void {
  (req as WithPrincipal).principal = principal;
}

/** The principal the bearer-token guard established for this request, if it ran. */
export function principalOf(req: Request): AccessPrincipal | undefined {
  return (req as WithPrincipal).principal;
}

/**
 * The principal of a request the guard authenticated. A route that passes some paths on
 * (`ClaimsPaths`) asks for it only once it has kept the path: the guard skips the others.
 */
export function requirePrincipal(req: Request): AccessPrincipal {
  const principal = principalOf(req);
  if (!principal) throw new Error('no access principal: the route bypassed the bearer guard');
  return principal;
}
