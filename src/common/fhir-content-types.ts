export const FHIR_JSON = 'application/fhir+json';
export const FHIR_NDJSON = 'application/fhir+ndjson';

/** Request body media types the server parses as FHIR JSON. */
export const ACCEPTED_JSON_BODY_TYPES = [
  FHIR_JSON,
  'application/json',
  'application/json-patch+json',
];
