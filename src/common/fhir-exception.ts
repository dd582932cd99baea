import { IssueType, operationOutcome, OperationOutcome } from './operation-outcome';

/** What went wrong, independent of transport; the exception filter maps each to an HTTP status. */
export enum FhirErrorCode {
  BadRequest = 'bad-request',
  NotFound = 'not-found',
  Gone = 'gone',
  MethodNotAllowed = 'method-not-allowed',
  NotAcceptable = 'not-acceptable',
  Conflict = 'conflict',
  PreconditionFailed = 'precondition-failed',
  PayloadTooLarge = 'payload-too-large',
  UnsupportedMediaType = 'unsupported-media-type',
  Unprocessable = 'unprocessable',
  Unauthorized = 'unauthorized',
  Forbidden = 'forbidden',
  TooManyRequests = 'too-many-requests',
  Internal = 'internal',
  Unavailable = 'unavailable',
}

const ISSUE_TYPE: Record<FhirErrorCode, IssueType> = {
  [FhirErrorCode.BadRequest]: 'invalid',
  [FhirErrorCode.NotFound]: 'not-found',
  [FhirErrorCode.Gone]: 'deleted',
  [FhirErrorCode.MethodNotAllowed]: 'not-supported',
  [FhirErrorCode.NotAcceptable]: 'not-supported',
  [FhirErrorCode.Conflict]: 'conflict',
  [FhirErrorCode.PreconditionFailed]: 'conflict',
  [FhirErrorCode.PayloadTooLarge]: 'too-long',
  [FhirErrorCode.UnsupportedMediaType]: 'not-supported',
  [FhirErrorCode.Unprocessable]: 'processing',
  [FhirErrorCode.Unauthorized]: 'login',
  [FhirErrorCode.Forbidden]: 'forbidden',
  [FhirErrorCode.TooManyRequests]: 'throttled',
  [FhirErrorCode.Internal]: 'exception',
  [FhirErrorCode.Unavailable]: 'transient',
};

/**
 * The one exception type of the server. Throw it anywhere; the global filter turns it into
 * the HTTP status for its code and an OperationOutcome body.
 */
export class FhirException extends Error {
  readonly outcome: OperationOutcome;

  constructor(
    readonly code: FhirErrorCode,
    diagnostics: string,
    options: {
      expression?: string[];
      issueType?: IssueType;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(diagnostics);
    this.name = 'FhirException';
    this.headers = options.headers ?? {};
    this.outcome = operationOutcome(
      'error',
      options.issueType ?? ISSUE_TYPE[code],
      diagnostics,
      options.expression,
    );
  }

  readonly headers: Record<string, string>;

  static badRequest(diagnostics: string, expression?: string[]): FhirException {
    return new FhirException(FhirErrorCode.BadRequest, diagnostics, { expression });
  }

  static notFound(diagnostics: string): FhirException {
    return new FhirException(FhirErrorCode.NotFound, diagnostics);
  }
}
