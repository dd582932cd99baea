/**
 * SQL building blocks shared by search and the export, the readers of the `resource` table
 * that build their statements: positional parameters, and which versions a reader sees. Every
 * version of a resource is a row; the current one has `superseded_at IS NULL`.
 */

/** Positional parameters of one SQL statement, numbered as they are added. */
export class SqlParams {
  readonly values: unknown[] = [];

  constructor(initial: unknown[] = []) {
    this.values.push(...initial);
  }

  /** Adds a value and returns its placeholder (`$n`). */
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * Which versions a reader sees: the current ones (REST read and search), or those as of an
 * instant held in placeholder `asOf` (an export's transaction time).
 */
export type VersionScope = { asOf?: string };

/** The conjuncts selecting the versions of rows aliased `alias` that `scope` sees, deleted ones left out. */
export function versionScopeConditions(alias: string, scope: VersionScope): string[] {
  if (scope.asOf === undefined) return [`${alias}.superseded_at IS NULL`, `NOT ${alias}.deleted`];
  return [
    `NOT ${alias}.deleted`,
    `${alias}.last_updated <= ${scope.asOf}`,
    `(${alias}.superseded_at IS NULL OR ${alias}.superseded_at > ${scope.asOf})`,
  ];
}

/** {@link versionScopeConditions} as one SQL condition. */
export function versionScopeSql(alias: string, scope: VersionScope): string {
  return versionScopeConditions(alias, scope).join(' AND ');
}
