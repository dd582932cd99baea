/**
 * SMART App Launch scopes for Backend Services (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * `system/` scopes only, in SMART v1 form (`system/Patient.read`, `.write`, `.*`) or v2 form
 * (`system/Observation.rs`, `system/*.cruds`). Pure functions: parsing, and the intersection of
 * what a client asks for with what it is registered for.
 */

/** SMART v2 permissions, in the order the spec writes them. */
export const PERMISSIONS = ['c', 'r', 'u', 'd', 's'] as const;
export type Permission = (typeof PERMISSIONS)[number];

const V1_ACTIONS: Record<string, readonly Permission[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

/** One parsed scope: a resource type (or `*`) and the permissions it grants. */
export interface Scope {
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  version: 1 | 2;
}

export class ScopeError extends Error {}

/**
 * Parses one scope; throws a {@link ScopeError} naming what is wrong with it. `isResourceType`
 * says which resource types exist.
 */
export function parseScope(text: string, isResourceType: (type: string) => boolean): Scope {
  const match = /^([a-z]+)\/([^.]+)\.(.+)$/.exec(text);
  if (!match) {
    throw new ScopeError(
      `Scope "${text}" is not of the form system/<ResourceType or *>.<read|write|*|cruds>`,
    );
  }
  const [, context, resourceType, action] = match;
  if (context !== 'system') {
    throw new ScopeError(
      `Scope "${text}": only system/ scopes are granted to backend services, not ${context}/`,
    );
  }
  if (resourceType !== '*' && !isResourceType(resourceType)) {
    throw new ScopeError(`Scope "${text}": ${resourceType} is not a FHIR R4 resource type`);
  }
  if (action.includes('?')) {
    throw new ScopeError(`Scope "${text}": scope parameters (after ?) are not supported`);
  }
  const v1 = V1_ACTIONS[action];
  if (v1) return { resourceType, permissions: new Set(v1), version: 1 };
  if (!/^c?r?u?d?s?$/.test(action) || action === '') {
    throw new ScopeError(
      `Scope "${text}": unknown action "${action}"; use read, write or * (SMART v1), or the letters c, r, u, d, s in that order (SMART v2)`,
    );
  }
  return { resourceType, permissions: new Set(action.split('') as Permission[]), version: 2 };
}

/** Parses a space-separated scope string (OAuth 2.0 `scope`); duplicates are dropped. */
export function parseScopes(text: string, isResourceType: (type: string) => boolean): Scope[] {
  const words = [...new Set(text.split(' ').filter((w) => w !== ''))];
  return words.map((word) => parseScope(word, isResourceType));
}

/** The scope as text: v1 form when the scope was written in v1 and its permissions allow it. */
export function formatScope(scope: Scope): string {
  const letters = PERMISSIONS.filter((p) => scope.permissions.has(p));
  if (scope.version === 1) {
    for (const [action, permissions] of Object.entries(V1_ACTIONS)) {
      if (sameSet(permissions, letters)) return `system/${scope.resourceType}.${action}`;
    }
  }
  return `system/${scope.resourceType}.${letters.join('')}`;
}

function sameSet(a: readonly Permission[], b: readonly Permission[]): boolean {
  return a.length === b.length && a.every((p) => b.includes(p));
}

/** What `requested` and `allowed` both grant, in `requested`'s form; undefined when nothing. */
function intersect(requested: Scope, allowed: Scope): Scope | undefined {
  let resourceType: string;
  if (allowed.resourceType === '*' || allowed.resourceType === requested.resourceType) {
    resourceType = requested.resourceType;
  } else if (requested.resourceType === '*') {
    resourceType = allowed.resourceType;
  } else {
    return undefined;
  }
  const permissions = new Set([...requested.permissions].filter((p) => allowed.permissions.has(p)));
  if (permissions.size === 0) return undefined;
  return { resourceType, permissions, version: requested.version };
}

/**
 * The scopes to grant: each requested scope narrowed to what the registered scopes allow
 * (RFC 6749 3.3: the server may grant less than asked and says so in the token response).
 * Returns the granted scope strings in request order, without those another one covers.
 */
export function grantScopes(requested: readonly Scope[], registered: readonly Scope[]): string[] {
  const granted: Scope[] = [];
  for (const want of requested) {
    for (const have of registered) {
      const scope = intersect(want, have);
      if (scope) granted.push(scope);
    }
  }
  // Leave out what another granted scope already covers (the first of equals stays).
  const kept = granted.filter(
    (scope, index) =>
      !granted.some(
        (other, j) => j !== index && covers(other, scope) && (!covers(scope, other) || j < index),
      ),
  );
  return [...new Set(kept.map(formatScope))];
}

function covers(a: Scope, b: Scope): boolean {
  return (
    (a.resourceType === '*' || a.resourceType === b.resourceType) &&
    [...b.permissions].every((p) => a.permissions.has(p))
  );
}

/** Whether `scopes` let a holder use `permission` on `resourceType`: for the access checks to come. */
export function allows(
  scopes: readonly Scope[],
  resourceType: string,
  permission: Permission,
): boolean {
  return scopes.some(
    (s) =>
      (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission),
  );
}
