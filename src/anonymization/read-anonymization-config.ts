import { compile } from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import { parseAnonymizationConfig, ParsedAnonymizationConfig } from './anonymization-config';
import { compileRulePath } from './rule-selector';

/**
 * Parses and validates a configuration the way the engine will run it: every rule path as the
 * engine selects it, every `generalize` case as FHIRPath.
 */
export function readAnonymizationConfig(content: string | Buffer): ParsedAnonymizationConfig {
  return parseAnonymizationConfig(content, {
    compilePath: (path) => void compileRulePath(path),
    compileExpression: (expression) => void compile(expression, r4Model),
  });
}
