import { FhirException } from '../common/fhir-exception';
import { IdentifierCondition } from './resource.repository';

/**
 * Parses the search of a conditional create (`If-None-Exist`, `ifNoneExist`) or conditional
 * reference. Until the search index exists only a single `identifier` token is understood,
 * which is what loaders such as Synthea send; anything else is refused rather than ignored.
 */
export function parseIdentifierCondition(query: string, what: string): IdentifierCondition {
  const params = [...new URLSearchParams(query.replace(/^\?/, ''))];
  if (params.length !== 1 || params[0][0] !== 'identifier') {
    throw FhirException.badRequest(
      `${what} ${JSON.stringify(query)} is not supported yet: only a single identifier=[system|]value search is`,
    );
  }
  const token = params[0][1];
  if (token === '' || /(?<!\\),/.test(token)) {
    throw FhirException.badRequest(
      `${what} ${JSON.stringify(query)} must name one identifier as identifier=[system|]value`,
    );
  }
  const bar = token.indexOf('|');
  const unescape = (s: string) => s.replace(/\\([\\|,$])/g, '$1');
  if (bar < 0) return { value: unescape(token) };
  const value = unescape(token.slice(bar + 1));
  if (value === '') {
    throw FhirException.badRequest(`${what} ${JSON.stringify(query)} has no identifier value`);
  }
  return { system: token.slice(0, bar), value };
}

/** Whether `resource` carries an identifier matching `condition` (same rules as the store). */
export function hasIdentifier(
  resource: Record<string, unknown>,
  condition: IdentifierCondition,
): boolean {
  if (!Array.isArray(resource.identifier)) return false;
  return (resource.identifier as { system?: unknown; value?: unknown }[]).some(
    (i) =>
      i.value === condition.value &&
      (condition.system === undefined ||
        (condition.system === '' ? i.system === undefined : i.system === condition.system)),
  );
}
