import { FHIR_ID } from '../common/fhir-request';
import { FhirException } from '../common/fhir-exception';
import { FhirDefinitions } from '../fhir/fhir-definitions.service';
import { IndexedParamType, SearchParameters, SupportedSearchParameter } from './search-parameters';
import { dateRange, DateRange, parseDecimal } from './search-values';
import { parseLocalReference } from '../fhir/local-reference';

/** Comparators of date, number and quantity searches (search.html#prefix). */
export type SearchPrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export type TokenValue = { system?: string | null; code?: string };
export type NumberValue = { prefix: SearchPrefix; value: string; half: string };
export type QuantityValue = NumberValue & { system?: string; code?: string };
export type DateValue = { prefix: SearchPrefix; range: DateRange };
export type ReferenceValue = { targetType?: string; targetId?: string; url?: string };

/** One parameter occurrence of a search: its values are OR-ed (search.html#combining). */
export type SearchCondition =
  | {
      kind: 'missing';
      name: string;
      table: IndexedParamType | 'column';
      code: string;
      missing: boolean;
    }
  | { kind: 'id'; name: string; ids: string[] }
  | { kind: 'lastUpdated'; name: string; values: DateValue[] }
  | { kind: 'token'; name: string; code: string; not: boolean; values: TokenValue[] }
  | { kind: 'tokenText'; name: string; code: string; values: string[] }
  | {
      kind: 'string';
      name: string;
      code: string;
      match: 'start' | 'exact' | 'contains';
      values: string[];
    }
  | { kind: 'date'; name: string; code: string; values: DateValue[] }
  | { kind: 'number'; name: string; code: string; values: NumberValue[] }
  | { kind: 'quantity'; name: string; code: string; values: QuantityValue[] }
  | { kind: 'reference'; name: string; code: string; values: ReferenceValue[] }
  | {
      kind: 'uri';
      name: string;
      code: string;
      match: 'exact' | 'below' | 'above';
      values: string[];
    }
  | {
      kind: 'chain';
      name: string;
      code: string;
      targetType: string;
      condition: SearchCondition;
    };

/** The types a search's chained parameters search (`subject:Patient.name` searches Patient). */
export function chainedTypes(search: ParsedSearch): string[] {
  const types = search.conditions.flatMap((c) => (c.kind === 'chain' ? [c.targetType] : []));
  return [...new Set(types)];
}

export type SearchSort = { key: '_lastUpdated' | '_id'; descending: boolean };

/** A parsed FHIR search on one type: conditions AND-ed, plus the result parameters. */
export interface ParsedSearch {
  type: string;
  conditions: SearchCondition[];
  /** `_count`, when given (capped at {@link MAX_COUNT}). */
  count?: number;
  sort?: SearchSort;
  /** `_summary=count`: the total only, no entries. */
  summaryCount: boolean;
  total?: 'none' | 'estimate' | 'accurate';
  /** The paging cursor of a `next` link. */
  cursor?: string;
  /** What `lenient` let through by ignoring it: parameter name and why. */
  ignored: { name: string; reason: string }[];
  /** The parameters that select and sort, as given (decoded), for `self`/`next` links. */
  pairs: [string, string][];
}

export interface ParseSearchOptions {
  /** `Prefer: handling=lenient`: unknown or unsupported parameters are ignored and reported. */
  lenient?: boolean;
  /**
   * `filter` for a `_typeFilter` query: result parameters (`_count`, `_sort`...) are refused
   * like unknown ones since they do not select resources.
   */
  context?: 'search' | 'filter';
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;
export const CURSOR_PARAMETER = '_cursor';

const PREFIXES = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);
const IGNORED_ALWAYS = new Set(['_format', '_pretty']);
const RESULT_PARAMETERS = new Set(['_count', '_sort', '_summary', '_total', CURSOR_PARAMETER]);
const UNSUPPORTED_RESULT_PARAMETERS = new Set([
  '_include',
  '_revinclude',
  '_elements',
  '_contained',
  '_containedType',
]);

/** Decoded `name=value` pairs of a query string (`+` is a space), in order. */
export function queryPairs(query: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const rawName = equals < 0 ? part : part.slice(0, equals);
    const rawValue = equals < 0 ? '' : part.slice(equals + 1);
    try {
      pairs.push([decode(rawName), decode(rawValue)]);
    } catch {
      throw FhirException.badRequest(`Malformed percent-escape in ${JSON.stringify(part)}`, [
        rawName,
      ]);
    }
  }
  return pairs;
}

function decode(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

/** Splits at `separator` where it is not escaped with `\` (search.html#escaping); escapes kept. */
export function splitEscaped(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && i + 1 < value.length) {
      current += ch + value[i + 1];
      i++;
    } else if (ch === separator) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Removes the FHIR search escapes `\,` `\$` `\|` `\\`. */
export function unescapeValue(value: string): string {
  return value.replace(/\\([,$|\\])/g, '$1');
}

class SearchParseError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a FHIR search query on `type` (search.html): `query` as the raw text after `?` or as
 * decoded pairs. Throws a 400 FhirException naming the parameter for anything the server
 * cannot evaluate, unless `options.lenient`, which ignores it and lists it in `ignored`.
 * The `_typeFilter` kick-off calls this with `context: 'filter'` to refuse filters early.
 */
export function parseSearchQuery(
  type: string,
  query: string | readonly [string, string][],
  parameters: SearchParameters,
  options: ParseSearchOptions = {},
): ParsedSearch {
  const definitions = parameters.definitions;
  if (!definitions.isResourceType(type)) {
    throw FhirException.badRequest(`Unknown resource type ${type}`);
  }
  const pairs = typeof query === 'string' ? queryPairs(query) : query;
  const parsed: ParsedSearch = {
    type,
    conditions: [],
    summaryCount: false,
    ignored: [],
    pairs: [],
  };
  const context = options.context ?? 'search';
  for (const [name, value] of pairs) {
    try {
      if (IGNORED_ALWAYS.has(name)) continue;
      if (context === 'search' && RESULT_PARAMETERS.has(name)) {
        resultParameter(parsed, name, value);
        if (name !== CURSOR_PARAMETER && name !== '_summary' && name !== '_total') {
          parsed.pairs.push([name, value]);
        }
        continue;
      }
      if (RESULT_PARAMETERS.has(name) || UNSUPPORTED_RESULT_PARAMETERS.has(name)) {
        throw new SearchParseError(
          name,
          context === 'filter'
            ? `Result parameter ${name} is not allowed in a _typeFilter`
            : `Search result parameter ${name} is not supported`,
        );
      }
      parsed.conditions.push(parseCondition(type, name, value, parameters, definitions, true));
      parsed.pairs.push([name, value]);
    } catch (error) {
      if (!(error instanceof SearchParseError)) throw error;
      if (!options.lenient) throw FhirException.badRequest(error.message, [error.parameter]);
      parsed.ignored.push({ name: error.parameter, reason: error.message });
    }
  }
  return parsed;
}

function resultParameter(parsed: ParsedSearch, name: string, value: string): void {
  switch (name) {
    case '_count': {
      // Any count of digits: a larger page than the server gives is capped (search.html#count).
      if (!/^\d+$/.test(value)) {
        throw new SearchParseError(
          name,
          `_count must be a non-negative integer written in digits (a page holds at most ${MAX_COUNT} ` +
            `entries; a larger _count gets ${MAX_COUNT}), got "${value}"`,
        );
      }
      parsed.count = Math.min(Number(value), MAX_COUNT);
      return;
    }
    case '_sort': {
      const keys = value.split(',');
      const key = keys[0].replace(/^-/, '');
      if (keys.length !== 1 || (key !== '_lastUpdated' && key !== '_id')) {
        throw new SearchParseError(
          name,
          `_sort=${value} is not supported; sort by one of _lastUpdated, -_lastUpdated, _id, -_id`,
        );
      }
      parsed.sort = { key, descending: keys[0].startsWith('-') };
      return;
    }
    case '_summary':
      if (value === 'count') parsed.summaryCount = true;
      else if (value !== 'false') {
        throw new SearchParseError(name, `_summary=${value} is not supported; use count or false`);
      }
      return;
    case '_total':
      if (value !== 'none' && value !== 'estimate' && value !== 'accurate') {
        throw new SearchParseError(name, `_total must be none, estimate or accurate`);
      }
      parsed.total = value;
      return;
    case CURSOR_PARAMETER:
      parsed.cursor = value;
      return;
  }
}

function parseCondition(
  type: string,
  name: string,
  value: string,
  parameters: SearchParameters,
  definitions: FhirDefinitions,
  allowChain: boolean,
): SearchCondition {
  const dot = name.indexOf('.');
  if (dot >= 0) {
    if (!allowChain) {
      throw new SearchParseError(
        name,
        `Chained parameter ${name}: only one level of chaining is supported`,
      );
    }
    return parseChain(type, name, dot, value, parameters, definitions);
  }
  const [code, modifier, ...rest] = name.split(':');
  if (rest.length > 0) throw new SearchParseError(name, `Malformed parameter name ${name}`);
  if (code === '_id' || code === '_lastUpdated') {
    if (modifier !== undefined) {
      throw new SearchParseError(name, `Modifier :${modifier} is not supported on ${code}`);
    }
    return columnCondition(name, code, value);
  }
  const param = parameters.supportedParameter(type, code);
  if (!param) {
    const known = definitions.searchParameter(type, code);
    throw new SearchParseError(
      name,
      known
        ? `Search parameter ${code} (type ${known.type}) of ${type} is not supported`
        : `Unknown search parameter ${code} for ${type}`,
    );
  }
  if (value === '') throw new SearchParseError(name, `Search parameter ${name} has no value`);
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') {
      throw new SearchParseError(name, `${name} must be true or false`);
    }
    return { kind: 'missing', name, table: param.type, code, missing: value === 'true' };
  }
  const raw = splitEscaped(value, ',');
  switch (param.type) {
    case 'token':
      if (modifier === 'text') {
        return { kind: 'tokenText', name, code, values: raw.map(unescapeValue) };
      }
      checkModifier(name, modifier, ['not']);
      return { kind: 'token', name, code, not: modifier === 'not', values: raw.map(tokenValue) };
    case 'string':
      checkModifier(name, modifier, ['exact', 'contains']);
      return {
        kind: 'string',
        name,
        code,
        match: modifier === 'exact' ? 'exact' : modifier === 'contains' ? 'contains' : 'start',
        values: raw.map(unescapeValue),
      };
    case 'date':
      checkModifier(name, modifier, []);
      return {
        kind: 'date',
        name,
        code,
        values: raw.map((v) => dateValue(name, unescapeValue(v))),
      };
    case 'number':
      checkModifier(name, modifier, []);
      return {
        kind: 'number',
        name,
        code,
        values: raw.map((v) => numberValue(name, unescapeValue(v))),
      };
    case 'quantity':
      checkModifier(name, modifier, []);
      return { kind: 'quantity', name, code, values: raw.map((v) => quantityValue(name, v)) };
    case 'reference':
      return referenceCondition(name, code, param, modifier, raw, definitions);
    case 'uri':
      checkModifier(name, modifier, ['below', 'above']);
      return {
        kind: 'uri',
        name,
        code,
        match: modifier === 'below' ? 'below' : modifier === 'above' ? 'above' : 'exact',
        values: raw.map(unescapeValue),
      };
  }
}

function checkModifier(name: string, modifier: string | undefined, allowed: string[]): void {
  if (modifier !== undefined && !allowed.includes(modifier)) {
    throw new SearchParseError(
      name,
      `Modifier :${modifier} is not supported on ${name.split(':')[0]}`,
    );
  }
}

function columnCondition(
  name: string,
  code: '_id' | '_lastUpdated',
  value: string,
): SearchCondition {
  if (value === '') throw new SearchParseError(name, `Search parameter ${name} has no value`);
  const raw = splitEscaped(value, ',').map(unescapeValue);
  if (code === '_id') {
    for (const id of raw) {
      if (!FHIR_ID.test(id))
        throw new SearchParseError(name, `_id ${JSON.stringify(id)} is not a valid id`);
    }
    return { kind: 'id', name, ids: raw };
  }
  return { kind: 'lastUpdated', name, values: raw.map((v) => dateValue(name, v)) };
}

function splitPrefix(value: string): { prefix: SearchPrefix; rest: string } {
  const head = value.slice(0, 2);
  if (PREFIXES.has(head) && value.length > 2) {
    return { prefix: head as SearchPrefix, rest: value.slice(2) };
  }
  return { prefix: 'eq', rest: value };
}

function dateValue(name: string, value: string): DateValue {
  const { prefix, rest } = splitPrefix(value);
  const range = dateRange(rest);
  if (!range) {
    throw new SearchParseError(
      name,
      `${name}: ${JSON.stringify(value)} is not a FHIR date, dateTime or instant`,
    );
  }
  return { prefix, range };
}

function numberValue(name: string, value: string): NumberValue {
  const { prefix, rest } = splitPrefix(value);
  const number = parseDecimal(rest);
  if (!number)
    throw new SearchParseError(name, `${name}: ${JSON.stringify(value)} is not a number`);
  return { prefix, ...number };
}

function quantityValue(name: string, raw: string): QuantityValue {
  const parts = splitEscaped(raw, '|').map(unescapeValue);
  if (parts.length !== 1 && parts.length !== 3) {
    throw new SearchParseError(
      name,
      `${name}: ${JSON.stringify(raw)} is not [prefix]number|system|code`,
    );
  }
  const number = numberValue(name, parts[0]);
  return {
    ...number,
    ...(parts[1] ? { system: parts[1] } : {}),
    ...(parts[2] ? { code: parts[2] } : {}),
  };
}

function tokenValue(raw: string): TokenValue {
  const parts = splitEscaped(raw, '|');
  if (parts.length === 1) return { code: unescapeValue(parts[0]) };
  // `system|code`, `|code` (no system), `system|` (any code in system).
  const system = unescapeValue(parts[0]);
  const code = unescapeValue(parts.slice(1).join('|'));
  return { system: system === '' ? null : system, ...(code === '' ? {} : { code }) };
}

function referenceCondition(
  name: string,
  code: string,
  param: SupportedSearchParameter,
  modifier: string | undefined,
  raw: string[],
  definitions: FhirDefinitions,
): SearchCondition {
  if (modifier !== undefined && !definitions.isResourceType(modifier)) {
    throw new SearchParseError(name, `Modifier :${modifier} is not supported on ${code}`);
  }
  const values = raw.map((piece): ReferenceValue => {
    const value = unescapeValue(piece);
    if (FHIR_ID.test(value)) {
      return { ...(modifier ? { targetType: modifier } : {}), targetId: value };
    }
    const local = parseLocalReference(value);
    if (local && definitions.isResourceType(local.type)) {
      if (modifier && modifier !== local.type) {
        throw new SearchParseError(name, `${name}: ${value} is not a ${modifier} reference`);
      }
      return { targetType: local.type, targetId: local.id };
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return { url: value };
    throw new SearchParseError(name, `${name}: ${JSON.stringify(value)} is not a reference`);
  });
  if (param.target && modifier && !param.target.includes(modifier)) {
    throw new SearchParseError(name, `${code} cannot refer to ${modifier}`);
  }
  return { kind: 'reference', name, code, values };
}

function parseChain(
  type: string,
  name: string,
  dot: number,
  value: string,
  parameters: SearchParameters,
  definitions: FhirDefinitions,
): SearchCondition {
  const [code, modifier, ...rest] = name.slice(0, dot).split(':');
  const inner = name.slice(dot + 1);
  const param = parameters.supportedParameter(type, code);
  if (!param || param.type !== 'reference' || rest.length > 0) {
    throw new SearchParseError(name, `${name}: ${code} is not a reference parameter of ${type}`);
  }
  const innerCode = inner.split(':')[0].split('.')[0];
  let targetType: string;
  if (modifier !== undefined) {
    if (
      !definitions.isResourceType(modifier) ||
      (param.target && !param.target.includes(modifier))
    ) {
      throw new SearchParseError(name, `${name}: ${code} cannot refer to ${modifier}`);
    }
    targetType = modifier;
  } else {
    const candidates = (param.target ?? []).filter(
      (t) =>
        innerCode === '_id' ||
        innerCode === '_lastUpdated' ||
        parameters.supportedParameter(t, innerCode),
    );
    if (candidates.length !== 1) {
      throw new SearchParseError(
        name,
        candidates.length === 0
          ? `${name}: no resource type ${code} refers to has a search parameter ${innerCode}`
          : `${name} is ambiguous (${candidates.join(', ')}); name the type, e.g. ${code}:${candidates[0]}.${inner}`,
      );
    }
    targetType = candidates[0];
  }
  let condition: SearchCondition;
  try {
    condition = parseCondition(targetType, inner, value, parameters, definitions, false);
  } catch (error) {
    if (error instanceof SearchParseError) throw new SearchParseError(name, error.message);
    throw error;
  }
  return { kind: 'chain', name, code, targetType, condition };
}
