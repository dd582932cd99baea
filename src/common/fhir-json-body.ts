import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { json } from 'express';
import { ACCEPTED_JSON_BODY_TYPES } from './fhir-content-types';
import { FhirErrorCode, FhirException } from './fhir-exception';

interface BodyParserError {
  type?: string;
  message?: string;
  limit?: number;
}

/** Turns body-parser's errors into FhirExceptions with a message a client can act on. */
export function bodyError(error: BodyParserError): FhirException {
  switch (error.type ?? '') {
    case 'entity.parse.failed':
      return FhirException.badRequest(`Request body is not valid JSON: ${error.message ?? ''}`);
    case 'entity.too.large':
      return new FhirException(
        FhirErrorCode.PayloadTooLarge,
        `Request body exceeds the limit of ${error.limit ?? '?'} bytes`,
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new FhirException(
        FhirErrorCode.UnsupportedMediaType,
        error.message ?? 'Unsupported encoding',
      );
    default:
      return FhirException.badRequest(`Could not read the request body: ${error.message ?? ''}`);
  }
}

/** JSON body parsing for application/fhir+json and application/json, errors as OperationOutcomes. */
export function fhirJsonBody(limit: string): RequestHandler {
  const parse = json({ type: ACCEPTED_JSON_BODY_TYPES, limit, strict: true });
  return (req: Request, res: Response, next: NextFunction) => {
    parse(req, res, (error?: BodyParserError) => next(error ? bodyError(error) : undefined));
  };
}
