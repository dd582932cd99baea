import { FHIR_JSON } from '../../common/fhir-content-types';
import { FhirException } from '../../common/fhir-exception';

export interface ExportHeaders {
  /** `Prefer: handling=lenient`: skip unsupported parameters with a warning instead of a 400. */
  lenient: boolean;
}

export type RequestHeaders = Record<string, string | string[] | undefined>;

function header(headers: RequestHeaders, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Whether the Accept list names application/fhir+json itself, with any parameters
 * (`;charset=utf-8`, `;fhirVersion=4.0`) and a q-value above 0. Ranges that merely include it
 * (`application/json`, `application/*`, `*\/*`) do not count: the IG requires this one type.
 */
function acceptsFhirJson(accept: string): boolean {
  return accept.split(',').some((range) => {
    const [mediaType, ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    if (mediaType !== FHIR_JSON) return false;
    const q = params.find((p) => /^q\s*=/.test(p));
    return q === undefined || Number(q.slice(q.indexOf('=') + 1).trim()) > 0;
  });
}

/**
 * Checks the kick-off headers (Bulk Data IG, export page "Headers"): `Accept:
 * application/fhir+json` ("Currently, only application/fhir+json is supported") and `Prefer:
 * respond-async`, optionally with `handling=lenient|strict`.
 */
export function parseExportHeaders(headers: RequestHeaders): ExportHeaders {
  const accept = header(headers, 'accept');
  if (accept === undefined || accept.trim() === '') {
    throw FhirException.badRequest(
      'The $export kick-off requires the Accept header application/fhir+json; none was given',
      ['Accept'],
    );
  }
  if (!acceptsFhirJson(accept)) {
    throw FhirException.badRequest(
      `Accept '${accept}' is not supported; the $export kick-off requires Accept: application/fhir+json ` +
        '(the Bulk Data IG allows no other type, nor a wildcard such as */* or application/json)',
      ['Accept'],
    );
  }

  const prefer = header(headers, 'prefer') ?? '';
  let respondAsync = false;
  let handling: string | undefined;
  // Some clients separate preferences with ';' instead of ','; both are read as preferences.
  for (const raw of prefer.split(/[,;]/)) {
    const preference = raw.trim();
    if (preference === '') continue;
    const [token, ...rest] = preference.split('=');
    const name = token.trim().toLowerCase();
    const value = rest
      .join('=')
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (name === 'respond-async' && rest.length === 0) {
      respondAsync = true;
    } else if (name === 'handling' && (value === 'lenient' || value === 'strict')) {
      if (handling !== undefined && handling !== value) {
        throw FhirException.badRequest(
          `Prefer '${prefer}' asks for both handling=strict and handling=lenient`,
          ['Prefer'],
        );
      }
      handling = value;
    } else {
      throw FhirException.badRequest(
        `Prefer '${preference}' is not supported for $export; use respond-async, optionally with handling=lenient or handling=strict`,
        ['Prefer'],
      );
    }
  }
  if (!respondAsync) {
    throw FhirException.badRequest(
      prefer.trim() === ''
        ? 'The $export kick-off requires the Prefer header respond-async; none was given'
        : `Prefer '${prefer}' does not include respond-async, which the $export kick-off requires`,
      ['Prefer'],
    );
  }
  return { lenient: handling === 'lenient' };
}
