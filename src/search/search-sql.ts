import {
  DateValue,
  NumberValue,
  ParsedSearch,
  QuantityValue,
  ReferenceValue,
  SearchCondition,
  TokenValue,
} from './search-query';
import { normalizeString } from './search-values';
import { SqlParams, VersionScope, versionScopeSql } from '../database/resource-sql';

let aliasCounter = 0;

function nextAlias(): string {
  aliasCounter = (aliasCounter + 1) % 1_000_000;
  return `i${aliasCounter}`;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}

/**
 * The WHERE conjuncts of a parsed search on rows of `resource` aliased `alias` (whose type is
 * `search.type`): each condition is an EXISTS on its index table, correlated on `seq`.
 */
export function searchConditionsSql(
  search: Pick<ParsedSearch, 'type' | 'conditions'>,
  alias: string,
  params: SqlParams,
  scope: VersionScope,
): string[] {
  return search.conditions.map((c) => conditionSql(c, search.type, alias, params, scope));
}

/** `(f1) OR (f2)`: `_typeFilter` queries for one type, each a conjunction (Bulk Data IG). */
export function anyOfSearchesSql(
  searches: readonly Pick<ParsedSearch, 'type' | 'conditions'>[],
  alias: string,
  params: SqlParams,
  scope: VersionScope,
): string {
  const disjuncts = searches.map((s) => {
    const conjuncts = searchConditionsSql(s, alias, params, scope);
    return conjuncts.length === 0 ? 'TRUE' : conjuncts.map((c) => `(${c})`).join(' AND ');
  });
  return disjuncts.map((d) => `(${d})`).join(' OR ');
}

function conditionSql(
  c: SearchCondition,
  type: string,
  alias: string,
  params: SqlParams,
  scope: VersionScope,
): string {
  const exists = (table: string, build: (i: string) => string, negate = false): string => {
    const i = nextAlias();
    const match = build(i);
    return (
      `${negate ? 'NOT ' : ''}EXISTS (SELECT 1 FROM search_${table} ${i} WHERE ${i}.seq = ${alias}.seq ` +
      `AND ${i}.type = ${params.add(type)} AND ${i}.param = ${params.add('code' in c ? c.code : '')}` +
      `${match ? ` AND (${match})` : ''})`
    );
  };
  const anyOf = (parts: string[]): string => parts.map((p) => `(${p})`).join(' OR ');
  switch (c.kind) {
    case 'id':
      return `${alias}.id = ANY(${params.add(c.ids)}::text[])`;
    case 'lastUpdated':
      return anyOf(
        c.values.map((v) =>
          dateSql(
            `${alias}.last_updated`,
            `(${alias}.last_updated + interval '1 millisecond')`,
            v,
            params,
          ),
        ),
      );
    case 'missing':
      return exists(c.table, () => '', c.missing);
    case 'token':
      return exists('token', (i) => anyOf(c.values.map((v) => tokenSql(i, v, params))), c.not);
    case 'tokenText':
      return exists('token', (i) =>
        anyOf(
          c.values.map(
            (v) => `${i}.text LIKE ${params.add(`%${escapeLike(normalizeString(v))}%`)}`,
          ),
        ),
      );
    case 'string':
      return exists('string', (i) =>
        anyOf(
          c.values.map((v) => {
            const norm = normalizeString(v);
            switch (c.match) {
              case 'exact':
                return `${i}.norm = ${params.add(norm)} AND ${i}.value = ${params.add(v)}`;
              case 'contains':
                return `${i}.norm LIKE ${params.add(`%${escapeLike(norm)}%`)}`;
              case 'start':
                return `${i}.norm LIKE ${params.add(`${escapeLike(norm)}%`)}`;
            }
          }),
        ),
      );
    case 'date':
      return exists('date', (i) =>
        anyOf(c.values.map((v) => dateSql(`${i}.low`, `${i}.high`, v, params))),
      );
    case 'number':
      return exists('number', (i) =>
        anyOf(c.values.map((v) => numberSql(`${i}.value`, v, params))),
      );
    case 'quantity':
      return exists('quantity', (i) => anyOf(c.values.map((v) => quantitySql(i, v, params))));
    case 'reference':
      return exists('reference', (i) => anyOf(c.values.map((v) => referenceSql(i, v, params))));
    case 'uri':
      return exists('uri', (i) =>
        anyOf(
          c.values.map((v) => {
            switch (c.match) {
              case 'exact':
                return `${i}.value = ${params.add(v)}`;
              case 'below':
                return `${i}.value LIKE ${params.add(`${escapeLike(v)}%`)}`;
              case 'above':
                return `left(${params.add(v)}::text, length(${i}.value)) = ${i}.value`;
            }
          }),
        ),
      );
    case 'chain': {
      const t = `${nextAlias()}t`;
      return exists('reference', (i) => {
        const inner = conditionSql(c.condition, c.targetType, t, params, scope);
        return (
          `${i}.target_type = ${params.add(c.targetType)} AND EXISTS (SELECT 1 FROM resource ${t} ` +
          `WHERE ${t}.type = ${i}.target_type AND ${t}.id = ${i}.target_id AND ` +
          `${versionScopeSql(t, scope)} AND (${inner}))`
        );
      });
    }
  }
}

function tokenSql(i: string, v: TokenValue, params: SqlParams): string {
  const parts: string[] = [];
  if (v.system === null) parts.push(`${i}.system IS NULL`);
  else if (v.system !== undefined) parts.push(`${i}.system = ${params.add(v.system)}`);
  if (v.code !== undefined) parts.push(`${i}.code = ${params.add(v.code)}`);
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

/**
 * Range comparison (search.html#prefix) of a target `[low, high)` with the search value's
 * range: `eq` the value contains the target, `gt` the target reaches above the value, `sa`
 * it starts after it, `ap` it overlaps the value widened by 10% of its distance from now.
 */
function dateSql(low: string, high: string, v: DateValue, params: SqlParams): string {
  const pl = (): string => `${params.add(v.range.low)}::timestamptz`;
  const ph = (): string => `${params.add(v.range.high)}::timestamptz`;
  const contained = (): string => `${low} >= ${pl()} AND ${high} <= ${ph()}`;
  switch (v.prefix) {
    case 'eq':
      return contained();
    case 'ne':
      return `NOT (${contained()})`;
    case 'gt':
      return `${high} > ${ph()}`;
    case 'lt':
      return `${low} < ${pl()}`;
    case 'ge':
      return `${high} > ${ph()} OR (${contained()})`;
    case 'le':
      return `${low} < ${pl()} OR (${contained()})`;
    case 'sa':
      return `${low} >= ${ph()}`;
    case 'eb':
      return `${high} <= ${pl()}`;
    case 'ap': {
      const lowMs = Date.parse(v.range.low);
      const highMs = Date.parse(v.range.high);
      const margin = Math.abs(Date.now() - (lowMs + highMs) / 2) * 0.1;
      const from = new Date(lowMs - margin).toISOString();
      const to = new Date(highMs + margin).toISOString();
      return `${low} < ${params.add(to)}::timestamptz AND ${high} > ${params.add(from)}::timestamptz`;
    }
  }
}

/** Number comparison; `eq` honours the value's implied precision (search.html#number). */
function numberSql(column: string, v: NumberValue, params: SqlParams): string {
  const value = (): string => `${params.add(v.value)}::numeric`;
  const within = (): string => {
    const half = `${params.add(v.half)}::numeric`;
    const center = value();
    return `${column} >= ${center} - ${half} AND ${column} < ${center} + ${half}`;
  };
  switch (v.prefix) {
    case 'eq':
      return within();
    case 'ne':
      return `NOT (${within()})`;
    case 'gt':
    case 'sa':
      return `${column} > ${value()}`;
    case 'lt':
    case 'eb':
      return `${column} < ${value()}`;
    case 'ge':
      return `${column} >= ${value()}`;
    case 'le':
      return `${column} <= ${value()}`;
    case 'ap': {
      const center = value();
      return `abs(${column} - ${center}) <= abs(${center}) * 0.1`;
    }
  }
}

function quantitySql(i: string, v: QuantityValue, params: SqlParams): string {
  const parts = [numberSql(`${i}.value`, v, params)];
  if (v.system !== undefined) parts.push(`${i}.system = ${params.add(v.system)}`);
  if (v.code !== undefined) {
    const code = params.add(v.code);
    parts.push(
      v.system !== undefined
        ? `${i}.code = ${code}`
        : `(${i}.code = ${code} OR ${i}.unit = ${code})`,
    );
  }
  return parts.map((p) => `(${p})`).join(' AND ');
}

function referenceSql(i: string, v: ReferenceValue, params: SqlParams): string {
  if (v.url !== undefined) return `${i}.url = ${params.add(v.url)}`;
  const parts = [`${i}.target_id = ${params.add(v.targetId)}`];
  if (v.targetType !== undefined) parts.push(`${i}.target_type = ${params.add(v.targetType)}`);
  return parts.join(' AND ');
}
