import {
  compile,
  FP_Decimal,
  resolveInternalTypes,
  types,
  type Options,
  type UserInvocationTable,
} from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import { PrimitiveResult, PrimitiveValue } from './method-types';

/** A FHIRPath expression compiled once, evaluated on a primitive of any FHIR type. */
export interface CompiledExpression {
  readonly source: string;
  /** The raw fhirpath.js results of the expression with the value as `$this`. */
  evaluate(value: PrimitiveValue, type: string): unknown[];
}

/** One `cases` entry: when `condition` holds for `$this`, the value becomes `expression`. */
export interface CompiledCase {
  readonly condition: CompiledExpression;
  readonly expression: CompiledExpression;
}

/** The `cases` of a `generalize` rule, compiled, in configuration order. */
export interface CompiledCases {
  readonly cases: readonly CompiledCase[];
}

/**
 * A case that could not be evaluated on a value (upstream raises AnonymizerProcessingException,
 * so `processingErrors` applies). The message names the expression and the FHIR type, never the
 * value; `cause` is fhirpath.js's error, whose message can quote the value, so do not log it.
 */
export class GeneralizeError extends Error {
  constructor(
    readonly expression: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Generalize expression "${expression}" ${reason}`, options);
    this.name = 'GeneralizeError';
  }
}

// fhirpath.js types the root from `base` when it is a type name, so `$this` is a FHIR.date
// rather than a System.String and compares with `@1990` literals.
const FHIR_PRIMITIVE_TYPES = new Set([
  'base64Binary',
  'boolean',
  'canonical',
  'code',
  'date',
  'dateTime',
  'decimal',
  'id',
  'instant',
  'integer',
  'markdown',
  'oid',
  'positiveInt',
  'string',
  'time',
  'unsignedInt',
  'uri',
  'url',
  'uuid',
  'xhtml',
]);

const DOTNET_SUBSTITUTION = /\$(\$|\{([^}]*)\})/g;
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const GROUP_NUMBER = /^\d{1,2}$/;

/**
 * `replaceMatches` that also reads `${name}` and `${n}` in the substitution: the FHIRPath spec
 * and upstream (.NET) write groups that way, fhirpath.js only knows JavaScript's `$<name>` and
 * `$n`, which keep working. The regex itself is still JavaScript's ('gu', as fhirpath.js).
 */
function replaceMatches(input: unknown[], regex: unknown, substitution: unknown): string | [] {
  if (input.length === 0 || typeof regex !== 'string' || typeof substitution !== 'string') {
    return [];
  }
  const [text] = input;
  if (input.length > 1 || typeof text !== 'string') {
    throw new Error('replaceMatches expects a single string');
  }
  return text.replace(new RegExp(regex, 'gu'), toJavaScriptSubstitution(substitution));
}

function toJavaScriptSubstitution(substitution: string): string {
  return substitution.replace(DOTNET_SUBSTITUTION, (whole: string, _: string, group?: string) => {
    if (group === undefined) return whole; // `$$`
    if (GROUP_NUMBER.test(group)) {
      return Number(group) === 0 ? '$&' : `$${group.padStart(2, '0')}`;
    }
    return GROUP_NAME.test(group) ? `$<${group}>` : whole;
  });
}

const USER_FUNCTIONS: UserInvocationTable = {
  replaceMatches: { fn: replaceMatches, arity: { 2: ['String', 'String'] } },
};
const OPTIONS: Options & { async: false } = {
  async: false,
  resolveInternalTypes: false,
  userInvocationTable: USER_FUNCTIONS,
};

type Evaluator = (data: unknown) => unknown[];

/**
 * Compiles the `cases` of a `generalize` rule (docs/anonymization.md §2.8). Throws naming the
 * case whose key or value is not a FHIRPath expression string that parses. Order is the
 * object's key order, which JavaScript puts integer-like keys first in.
 */
export function compileGeneralizeCases(cases: Record<string, unknown>): CompiledCases {
  if (typeof cases !== 'object' || cases === null || Array.isArray(cases)) {
    throw new Error('Generalize cases must be an object of FHIRPath condition → expression');
  }
  return {
    cases: Object.entries(cases).map(([condition, expression]) => {
      if (typeof expression !== 'string') {
        throw new Error(`Generalize case "${condition}" must map to a FHIRPath expression string`);
      }
      return {
        condition: compileExpression(condition, `Generalize case "${condition}"`),
        expression: compileExpression(
          expression,
          `Generalize case "${condition}" expression "${expression}"`,
        ),
      };
    }),
  };
}

/**
 * Generalizes one primitive (FHIR Anonymizer `generalize`, docs/anonymization.md §2.8): the
 * first case whose condition holds for the value as `$this` replaces it with its expression's
 * single result (none removes it); when no case holds, `otherValues` removes or keeps it.
 * GENERALIZE is recorded either way; an empty string is left alone and records nothing.
 * Throws GeneralizeError when a case cannot be evaluated or yields more than one value or a
 * non-primitive.
 */
export function generalize(
  value: PrimitiveValue,
  type: string,
  cases: CompiledCases,
  otherValues: 'redact' | 'keep',
): PrimitiveResult {
  if (value === '') return { value };
  for (const { condition, expression } of cases.cases) {
    if (holds(condition, value, type)) {
      return { value: singlePrimitive(expression, value, type), operation: 'GENERALIZE' };
    }
  }
  return { value: otherValues === 'keep' ? value : undefined, operation: 'GENERALIZE' };
}

function compileExpression(source: string, label: string): CompiledExpression {
  let untyped: Evaluator;
  try {
    untyped = compile(source, r4Model, OPTIONS);
  } catch (error) {
    throw new Error(`${label} is not valid FHIRPath: ${messageOf(error)}`, { cause: error });
  }
  const typed = new Map<string, Evaluator>();
  const evaluatorFor = (type: string): Evaluator => {
    if (!FHIR_PRIMITIVE_TYPES.has(type)) return untyped;
    let evaluator = typed.get(type);
    if (!evaluator) {
      evaluator = compile({ base: type, expression: source }, r4Model, OPTIONS);
      typed.set(type, evaluator);
    }
    return evaluator;
  };
  return {
    source,
    evaluate(value, type) {
      // A bare number as a typed root trips fhirpath.js (it converts numbers before its
      // decimal factory is set up); its own decimal type goes through untouched.
      const data = typeof value === 'number' ? FP_Decimal.getDecimal(value) : value;
      try {
        return evaluatorFor(type)(data);
      } catch (error) {
        throw new GeneralizeError(source, `failed on a ${type} value`, { cause: error });
      }
    },
  };
}

/** FHIRPath singleton evaluation: empty is false, one non-boolean item is true. */
function holds(condition: CompiledExpression, value: PrimitiveValue, type: string): boolean {
  const results = resolved(condition.evaluate(value, type));
  if (results.length > 1) {
    throw new GeneralizeError(condition.source, `gave ${results.length} values, not a boolean`);
  }
  return results.length === 1 && results[0] !== false;
}

function singlePrimitive(
  expression: CompiledExpression,
  value: PrimitiveValue,
  type: string,
): PrimitiveValue | undefined {
  const raw = expression.evaluate(value, type);
  if (raw.length === 0) return undefined;
  if (raw.length > 1) {
    throw new GeneralizeError(expression.source, `gave ${raw.length} values, not one`);
  }
  const [kind] = types(raw);
  const [result] = resolved(raw);
  if (kind === 'System.Quantity' || !isPrimitive(result)) {
    throw new GeneralizeError(expression.source, `gave a ${kind}, not a primitive`);
  }
  return result;
}

function resolved(raw: unknown[]): unknown[] {
  return resolveInternalTypes(raw) as unknown[];
}

function isPrimitive(value: unknown): value is PrimitiveValue {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
