import { isUnstorableText } from '../../common/control-characters';

/**
 * FHIR search result parameters (R4 search.html "Modifying Search Results"). They shape a result
 * page, not the set of matches, so they mean nothing inside a `_typeFilter`.
 */
const RESULT_PARAMETERS = new Set([
  '_include',
  '_revinclude',
  '_sort',
  '_elements',
  '_count',
  '_summary',
  '_total',
  '_contained',
  '_containedType',
]);

const SEARCH_PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

/** Decodes like `URLSearchParams` (`+` is a space) but reports a malformed escape instead of keeping it. */
function decodeQueryComponent(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Splits one `_typeFilter` value into its filters. A comma separates filters only where it starts
 * a new `Type?` segment; any other comma belongs to a search value, where it means OR.
 */
export function splitTypeFilters(value: string): string[] {
  return value.split(/,(?=[A-Z][A-Za-z]+\?)/);
}

export type ParsedTypeFilter =
  { ok: true; type: string; query: string } | { ok: false; type?: string; reason: string };

/**
 * Checks the syntax of one `Type?query` filter and returns the query in canonical form: pairs
 * sorted, percent-escapes kept (so an encoded `,` or `=` inside a value keeps its meaning) with
 * upper-case hex. Whether `type` is a known resource type is the caller's question.
 */
export function parseTypeFilter(filter: string): ParsedTypeFilter {
  const question = filter.indexOf('?');
  if (question < 0) {
    return { ok: false, reason: 'must have the form ResourceType?search-parameters' };
  }
  const type = filter.slice(0, question);
  if (!/^[A-Z][A-Za-z]+$/.test(type)) {
    return { ok: false, reason: `'${type}' before '?' is not a resource type name` };
  }
  const rawQuery = filter.slice(question + 1);
  const pairs = rawQuery.split('&').filter((pair) => pair !== '');
  if (pairs.length === 0) {
    return { ok: false, type, reason: 'has no search parameters after ?' };
  }
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    const name = decodeQueryComponent(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? '' : decodeQueryComponent(pair.slice(equals + 1));
    if (name === undefined || value === undefined) {
      return { ok: false, type, reason: `'${pair}' contains a malformed percent-escape` };
    }
    // No FHIR string holds a control character, and PostgreSQL refuses NUL in text outright.
    if (isUnstorableText(name) || isUnstorableText(value)) {
      return { ok: false, type, reason: `'${pair}' contains a control character` };
    }
    if (value === '') {
      return { ok: false, type, reason: `search parameter '${name}' has no value` };
    }
    if (!SEARCH_PARAMETER_NAME.test(name)) {
      return { ok: false, type, reason: `'${name}' is not a search parameter name` };
    }
    const base = name.split(':')[0];
    if (RESULT_PARAMETERS.has(base)) {
      return {
        ok: false,
        type,
        reason: `result parameter '${base}' is not allowed in a _typeFilter (it does not select resources)`,
      };
    }
  }
  const canonical = pairs
    .map((pair) => pair.replace(/%[0-9a-f]{2}/gi, (escape) => escape.toUpperCase()))
    .sort();
  return { ok: true, type, query: canonical.join('&') };
}
