import { FhirErrorCode, FhirException } from './fhir-exception';
import { IssueType, OperationOutcome } from './operation-outcome';

/** One problem found in a request body, located by a FHIRPath-like expression. */
export interface FhirIssue {
  code: IssueType;
  /** Where, e.g. `Patient.birthDate` or `Bundle.entry[3].resource.name[0].given[1]`. */
  expression: string;
  diagnostics: string;
}

/**
 * A FhirException that reports several problems: its OperationOutcome carries one error issue
 * per problem, each with its expression. The message is the first problem, plus how many more.
 */
export class FhirIssuesException extends FhirException {
  declare readonly outcome: OperationOutcome;

  constructor(
    code: FhirErrorCode,
    readonly issues: readonly FhirIssue[],
  ) {
    const [first] = issues;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problems)` : '';
    super(code, `${first.expression}: ${first.diagnostics}${more}`, {
      expression: [first.expression],
      issueType: first.code,
    });
    this.outcome = {
      resourceType: 'OperationOutcome',
      issue: issues.map(({ code: issueCode, expression, diagnostics }) => ({
        severity: 'error',
        code: issueCode,
        diagnostics: `${expression}: ${diagnostics}`,
        expression: [expression],
      })),
    };
  }
}
