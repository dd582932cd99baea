import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { allows, Permission } from '../scopes';
import { AccessPrincipal } from './principal';

/**
 * The access decisions, in one place (SMART App Launch, "Scopes for requesting clinical data";
 * Bulk Data IG, "Authorization"): which types a principal may read or write, which exports and
 * containers are its own. Controllers and services ask here; nothing else interprets scopes.
 */

/** What a bulk export of a type needs: reading its resources, by search (v1 `read`, v2 `rs`). */
export const EXPORT_PERMISSIONS: readonly Permission[] = ['r', 's'];

const PERMISSION_NAMES: Record<Permission, string> = {
  c: 'create',
  r: 'read',
  u: 'update',
  d: 'delete',
  s: 'search',
};

export function permits(
  principal: AccessPrincipal,
  type: string,
  permissions: readonly Permission[],
): boolean {
  return permissions.every((p) => allows(principal.scopes, type, p));
}

/** 403 (RFC 6750 `insufficient_scope`) unless the principal may `permissions` on every type. */
export function requirePermission(
  principal: AccessPrincipal,
  types: readonly string[],
  permissions: readonly Permission[],
  expression?: string[],
): void {
  const denied = types.filter((type) => !permits(principal, type, permissions));
  if (denied.length === 0) return;
  const action = permissions.map((p) => PERMISSION_NAMES[p]).join(' and ');
  throw forbidden(
    `The access token's scopes (${principal.scope}) do not permit ${action} on ${denied.join(', ')}`,
    expression,
  );
}

/** The types of `types` the principal may export. */
export function exportableTypes(principal: AccessPrincipal, types: readonly string[]): string[] {
  return types.filter((type) => permits(principal, type, EXPORT_PERMISSIONS));
}

/** Whether the principal may export every type there is (a `*` scope with read and search). */
export function exportsEveryType(principal: AccessPrincipal): boolean {
  return permits(principal, '*', EXPORT_PERMISSIONS);
}

/**
 * Whether an export belongs to the principal. Another client's export must read as absent
 * (404), so that its existence does not leak.
 */
export function ownsExport(principal: AccessPrincipal, owner: string): boolean {
  return principal.clientId === owner;
}

/** 403 unless the client is registered for `_container` `name`. */
export function requireContainer(principal: AccessPrincipal, name: string): void {
  if (principal.containers === 'any' || principal.containers.includes(name)) return;
  throw new FhirException(
    FhirErrorCode.Forbidden,
    `Client ${principal.clientId} may not write to container "${name}"; ` +
      (principal.containers.length
        ? `it is registered for: ${principal.containers.join(', ')}`
        : 'it is registered for no _container (omit _container for a container of its own)'),
    { expression: ['_container'] },
  );
}

function forbidden(message: string, expression?: string[]): FhirException {
  return new FhirException(FhirErrorCode.Forbidden, message, {
    expression,
    headers: {
      'WWW-Authenticate': `Bearer error="insufficient_scope", error_description="${quoted(message)}"`,
    },
  });
}

/** A quoted-string value of an auth-param (RFC 9110 5.6.4): printable ASCII, no quote or backslash. */
export function quoted(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, ' ').replace(/["\\]/g, "'");
}
