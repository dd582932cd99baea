/** FHIR R4 OperationOutcome.issue.severity */
export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

/** The subset of FHIR R4 IssueType codes this server reports. */
export type IssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'not-found'
  | 'deleted'
  | 'too-long'
  | 'conflict'
  | 'exception'
  | 'timeout'
  | 'transient'
  | 'throttled'
  | 'informational';

export interface OperationOutcomeIssue {
  severity: IssueSeverity;
  code: IssueType;
  diagnostics?: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  id?: string;
  issue: OperationOutcomeIssue[];
}

export function operationOutcome(
  severity: IssueSeverity,
  code: IssueType,
  diagnostics: string,
  expression?: string[],
): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, diagnostics, ...(expression ? { expression } : {}) }],
  };
}
