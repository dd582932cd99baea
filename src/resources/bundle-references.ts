import { FhirException } from '../common/fhir-exception';

// `Patient?identifier=...`: a reference to be resolved by a search when the Bundle is processed.
const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?(.*)$/;

/** `Type` and search of a conditional reference, or undefined for an ordinary reference. */
export function splitConditionalReference(
  reference: string,
): { type: string; query: string } | undefined {
  const match = CONDITIONAL_REFERENCE.exec(reference);
  return match ? { type: match[1], query: match[2] } : undefined;
}

/** Calls `visit` with every `reference` string anywhere inside `node`; its result replaces it. */
function visitReferences(node: unknown, visit: (reference: string) => string): void {
  if (Array.isArray(node)) {
    for (const item of node) visitReferences(item, visit);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (key === 'reference' && typeof value === 'string') {
      const replaced = visit(value);
      if (replaced !== value) record[key] = replaced;
    } else if (typeof value === 'object' && value !== null) {
      visitReferences(value, visit);
    }
  }
}

/** Every conditional reference (`Type?search`) inside `node`, including contained resources. */
export function conditionalReferencesIn(node: unknown, found: Set<string>): void {
  visitReferences(node, (reference) => {
    if (CONDITIONAL_REFERENCE.test(reference)) found.add(reference);
    return reference;
  });
}

/**
 * Rewrites, in place, every `reference` string anywhere inside `node` (including contained
 * resources and extensions) that `targets` knows, i.e. another entry's fullUrl or a resolved
 * conditional reference, to its `Type/id` (FHIR R4 http.html#trules, "Resolving references
 * in Bundles"). A `urn:uuid:`/`urn:oid:` reference that matches no entry cannot resolve and
 * is refused, as is a conditional reference left unresolved.
 */
export function rewriteReferences(node: unknown, targets: ReadonlyMap<string, string>): void {
  visitReferences(node, (reference) => {
    const target = targets.get(reference);
    if (target !== undefined) return target;
    if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) {
      throw FhirException.badRequest(
        `reference ${reference} does not match the fullUrl of any entry in the Bundle`,
      );
    }
    if (CONDITIONAL_REFERENCE.test(reference)) {
      throw FhirException.badRequest(`conditional reference ${reference} was not resolved`);
    }
    return reference;
  });
}
