import type { Response } from 'express';
import { FHIR_JSON } from './fhir-content-types';

export const FHIR_JSON_UTF8 = `${FHIR_JSON}; charset=utf-8`;

/** An HTTP answer whose body, when present, is FHIR JSON text ready to send as is. */
export interface FhirResponse {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

/** Weak ETag of a version (FHIR RESTful API, 3.1.0.5 "Managing Resource Contention"). */
export function etagOf(versionId: number): string {
  return `W/"${versionId}"`;
}

export function sendFhirResponse(res: Response, response: FhirResponse): void {
  res.status(response.status);
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  if (response.body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', FHIR_JSON_UTF8);
  res.send(response.body);
}
