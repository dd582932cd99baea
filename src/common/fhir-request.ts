import type { Request } from 'express';
import { FHIR_JSON } from './fhir-content-types';
import { FhirErrorCode, FhirException } from './fhir-exception';

/** FHIR R4 `id` datatype (https://hl7.org/fhir/R4/datatypes.html#id). */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Media types a resource or Bundle body may be sent as (JSON only; no XML support). */
export const RESOURCE_BODY_TYPES = [FHIR_JSON, 'application/json'];

/** What the client asked for with `Prefer: return=...` (FHIR RESTful API, 3.1.0.1.8). */
export type PreferReturn = 'representation' | 'minimal' | 'OperationOutcome';

/**
 * Parses If-Match into the expected version number. The server's ETags are weak version
 * tags, `W/"3"`; the strong form `"3"` is accepted too since some clients drop the prefix.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const match = /^\s*(?:W\/)?"([1-9]\d{0,8})"\s*$/.exec(header);
  if (!match) {
    throw FhirException.badRequest(
      `If-Match must be a version ETag such as W/"1", got ${JSON.stringify(header)}`,
    );
  }
  return Number(match[1]);
}

export function parsePrefer(header: string | string[] | undefined): PreferReturn {
  const all = Array.isArray(header) ? header.join(',') : (header ?? '');
  const value = /(?:^|[;,\s])return\s*=\s*"?([A-Za-z]+)"?/.exec(all)?.[1];
  return value === 'minimal' || value === 'OperationOutcome' ? value : 'representation';
}

/** `Prefer: handling=lenient` (FHIR R4 search.html#errors): skip what cannot be applied. */
export function prefersLenient(header: string | string[] | undefined): boolean {
  const all = Array.isArray(header) ? header.join(',') : (header ?? '');
  return /(?:^|[;,\s])handling\s*=\s*"?lenient"?/i.test(all);
}

/**
 * The parsed JSON body of a POST or PUT. The body parser only parses the JSON media types,
 * so anything else (text/plain, application/xml, no Content-Type) is refused here with 415.
 */
export function fhirJsonBody(req: Request): unknown {
  if (!req.is(RESOURCE_BODY_TYPES)) {
    const sent = req.headers['content-type'];
    throw new FhirException(
      FhirErrorCode.UnsupportedMediaType,
      sent
        ? `Unsupported Content-Type ${sent}; send ${RESOURCE_BODY_TYPES.join(' or ')}`
        : `Missing Content-Type; send ${RESOURCE_BODY_TYPES.join(' or ')}`,
    );
  }
  return req.body as unknown;
}

/** `$export`, `_history`, `_search`...: path segments that name operations, never ids or types. */
export function isOperationSegment(segment: string): boolean {
  return segment.startsWith('$') || segment.startsWith('_');
}
