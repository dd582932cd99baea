import type { AnonymizationConfig, AnonymizationRule } from './anonymization-config';
import { cryptoHash, cryptoHashReference } from './methods/crypto-hash';
import { dateShiftOffset, shiftDate } from './methods/date-shift';
import { encrypt } from './methods/encrypt';
import { CompiledCases, compileGeneralizeCases, generalize } from './methods/generalize';
import type {
  AnonymizationOperation,
  PrimitiveResult,
  PrimitiveValue,
} from './methods/method-types';
import { perturb } from './methods/perturb';
import {
  indicatesAgeOver89,
  redactAgeValue,
  redactDate,
  redactOther,
  redactPostalCode,
} from './methods/redact';
import { addSecurityLabels, securityLabels } from './methods/security-labels';
import {
  ElementTypeOf,
  isPrimitiveType,
  prune,
  ResourceTree,
  setValue,
  TreeIndex,
  TreeNode,
  valueOf,
} from './resource-tree';
import { compileRulePath, RuleSelector } from './rule-selector';

/** The keys a job anonymizes with; the job makes up those the configuration leaves empty. */
export interface AnonymizationKeys {
  dateShiftKey: string;
  cryptoHashKey: string;
  encryptKey: string;
}

export interface AnonymizationEnvironment {
  typeOf: ElementTypeOf;
  isResourceType(type: string): boolean;
  /** The clock of the "age over 89" rule; injectable so results do not depend on the day. */
  now(): Date;
}

/** A resource the rules could not be applied to (`processingErrors` decides what follows). */
export class AnonymizationProcessingError extends Error {
  constructor(
    message: string,
    readonly ruleIndex: number,
  ) {
    super(message);
    this.name = 'AnonymizationProcessingError';
  }
}

const DATE_TYPES = new Set(['date', 'dateTime', 'instant']);
const HASH_CACHE_SIZE = 10_000;
const NUMBER_TYPES = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);

interface CompiledRule {
  rule: AnonymizationRule;
  selector: RuleSelector;
  cases?: CompiledCases;
}

/** One resource's run: what was done, and which elements earlier rules already took. */
interface Run {
  visited: Set<TreeNode>;
  operations: Set<AnonymizationOperation>;
  /** Top-level properties where something was removed or replaced: only they are pruned. */
  changed: Set<string>;
  /** The resource whose id prefixes the date shift (the top-level one). */
  top: Record<string, unknown>;
  /** The clock of the "age over 89" rule, read once per resource. */
  now: Date;
  dateShiftPrefix: string | undefined;
  /** The last offset worked out, and the prefix it is for: a resource has many dates. */
  dateShift?: { prefix: string; offset: number };
}

/**
 * Applies an anonymization configuration to resources, one at a time, with the semantics of the
 * reference FHIR Anonymizer (see docs/anonymization.md): rules in order, the first rule to reach
 * an element wins, elements no rule reaches are kept, emptied elements are removed, and the
 * operations done become `meta.security` labels. Paths are compiled once per engine.
 */
export class AnonymizationEngine {
  private readonly rules: CompiledRule[];
  private readonly rulesByType = new Map<string, CompiledRule[]>();
  private readonly treeIndex: TreeIndex;
  /** Hashes of recent values and references: the same ones recur across a patient's resources. */
  private readonly hashes: RecentResults;
  private readonly referenceHashes: RecentResults;

  constructor(
    private readonly config: AnonymizationConfig,
    private readonly keys: AnonymizationKeys,
    private readonly environment: AnonymizationEnvironment,
  ) {
    const key = keys.cryptoHashKey;
    this.hashes = new RecentResults((value) => cryptoHash(value, key));
    this.referenceHashes = new RecentResults((reference) =>
      cryptoHashReference(reference, key, (type) => environment.isResourceType(type)),
    );
    this.rules = config.rules.map((rule) => ({
      rule,
      selector: compileRulePath(rule.path),
      cases: rule.method === 'generalize' ? compileGeneralizeCases(rule.cases ?? {}) : undefined,
    }));
    const uses = this.rules.map((r) => r.selector.uses);
    const looked = (pick: (use: RuleSelector['uses']) => string | undefined) =>
      new Set(uses.map(pick).filter((key): key is string => key !== undefined));
    this.treeIndex = new TreeIndex({
      paths: looked((u) => u.path),
      types: looked((u) => u.type),
      names: looked((u) => u.name),
    });
  }

  /**
   * Anonymizes `resource` in place and returns it (the export parses each resource for this
   * alone, so no copy is made). `dateShiftPrefix` replaces the resource id as what the date
   * shift offset derives from (the `patient` scope passes the patient's id).
   */
  anonymize(
    resource: Record<string, unknown>,
    options: { dateShiftPrefix?: string } = {},
  ): Record<string, unknown> {
    const now = this.environment.now();
    const operations = this.process(resource, resource, options.dateShiftPrefix, now);
    if (operations.size > 0) addSecurityLabels(resource, operations);
    return resource;
  }

  /** Anonymizes one resource in place, then those nested in it; returns what was done. */
  private process(
    resource: Record<string, unknown>,
    top: Record<string, unknown>,
    dateShiftPrefix: string | undefined,
    now: Date,
  ): Set<AnonymizationOperation> {
    const tree = new ResourceTree(resource, this.environment.typeOf, this.treeIndex);
    const run: Run = {
      visited: new Set(),
      operations: new Set(),
      changed: new Set(),
      top,
      dateShiftPrefix,
      now,
    };
    for (const compiled of this.rulesFor(String(resource.resourceType))) {
      try {
        for (const node of compiled.selector.select(tree)) this.apply(compiled, node, run);
      } catch (error) {
        if (error instanceof AnonymizationProcessingError) throw error;
        const { index, path } = compiled.rule;
        throw new AnonymizationProcessingError(
          `fhirPathRules[${index}] (${path}): ${(error as Error).message}`,
          index,
        );
      }
    }
    // Nested resources are anonymized on their own; their operations count for the container.
    for (const nested of tree.nested) {
      for (const operation of this.process(nested, top, dateShiftPrefix, now))
        run.operations.add(operation);
    }
    prune(resource, run.changed);
    return run.operations;
  }

  private rulesFor(type: string): CompiledRule[] {
    let rules = this.rulesByType.get(type);
    if (!rules) {
      rules = this.rules.filter(
        (r) => r.selector.resourceType === undefined || r.selector.resourceType === type,
      );
      this.rulesByType.set(type, rules);
    }
    return rules;
  }

  private apply(compiled: CompiledRule, node: TreeNode, run: Run): void {
    const { rule } = compiled;
    if (rule.method === 'substitute') return this.substitute(rule, node, run);
    if (rule.method === 'generalize') return this.generalize(compiled, node, run);
    ResourceTree.forEachInSubtree(node, (element) => {
      if (run.visited.has(element)) return;
      run.visited.add(element);
      if (rule.method === 'keep' || !isPrimitiveType(element.type)) return;
      const value = valueOf(element);
      if (value === undefined || value === null || value === '') return;
      const result = this.primitive(rule, element, value as PrimitiveValue, run);
      if (!result) return;
      this.set(element, result.value, run);
      if (result.operation) run.operations.add(result.operation);
    });
  }

  /** Sets a value, noting where removals may leave empty elements to prune. */
  private set(node: TreeNode, value: unknown, run: Run): void {
    setValue(node, value);
    if (value === undefined || typeof value === 'object') run.changed.add(topKey(node));
  }

  private primitive(
    rule: AnonymizationRule,
    node: TreeNode,
    value: PrimitiveValue,
    run: Run,
  ): PrimitiveResult | undefined {
    switch (rule.method) {
      case 'redact':
        return this.redact(node, value, run);
      case 'dateShift':
        return DATE_TYPES.has(node.type) ? this.dateShift(node, String(value), run) : undefined;
      case 'cryptoHash':
        if (typeof value !== 'string') return undefined;
        return {
          value: isReference(node) ? this.referenceHashes.of(value) : this.hashes.of(value),
          operation: 'CRYPTOHASH',
        };
      case 'encrypt':
        return typeof value === 'string'
          ? { value: encrypt(value, this.keys.encryptKey), operation: 'ENCRYPT' }
          : undefined;
      case 'perturb':
        if (typeof value !== 'number' || !NUMBER_TYPES.has(node.type)) return undefined;
        return {
          value: perturb(value, node.type as 'decimal', {
            span: rule.span ?? 0,
            rangeType: rule.rangeType ?? 'fixed',
            roundTo: rule.roundTo ?? 2,
          }),
          operation: 'PERTURB',
        };
      case 'keep':
      case 'substitute':
      case 'generalize':
        // keep touches nothing; substitute and generalize work on the matched element itself.
        return undefined;
    }
  }

  private redact(node: TreeNode, value: PrimitiveValue, run: Run): PrimitiveResult {
    const parameters = this.config.parameters;
    if (DATE_TYPES.has(node.type)) {
      return redactDate(
        String(value),
        parameters.enablePartialDatesForRedact,
        run.now,
        node.type as 'date',
      );
    }
    if (node.name === 'value' && node.parent?.type === 'Age' && typeof value === 'number') {
      return redactAgeValue(value, parameters.enablePartialAgesForRedact);
    }
    if (node.name === 'postalCode' && typeof value === 'string') {
      return redactPostalCode(
        value,
        parameters.enablePartialZipCodesForRedact,
        parameters.restrictedZipCodeTabulationAreas,
      );
    }
    return redactOther(value);
  }

  /** Shifts a full date; one with no day, or of someone over 89, is redacted instead. */
  private dateShift(node: TreeNode, value: string, run: Run): PrimitiveResult {
    const offset = this.dateShiftOffsetFor(run);
    const shifted = indicatesAgeOver89(value, run.now) ? undefined : shiftDate(value, offset);
    if (shifted === undefined) return this.redact(node, value, run);
    return { value: shifted, operation: 'PERTURB' };
  }

  private dateShiftOffsetFor(run: Run): number {
    const fixed = this.config.parameters.dateShiftFixedOffsetInDays;
    if (fixed !== undefined) return fixed;
    // The reference reads the id at shift time: hashed or not depends on the rule order.
    const prefix = run.dateShiftPrefix ?? (typeof run.top.id === 'string' ? run.top.id : '');
    if (run.dateShift?.prefix !== prefix) {
      run.dateShift = { prefix, offset: dateShiftOffset(prefix, this.keys.dateShiftKey) };
    }
    return run.dateShift.offset;
  }

  /**
   * `substitute`: a primitive takes `replaceWith` as its value (`null` removes it); a complex
   * element is replaced by the `replaceWith` fragment, except that what earlier rules already
   * anonymized in it is kept.
   */
  private substitute(rule: AnonymizationRule, node: TreeNode, run: Run): void {
    const elements = ResourceTree.subtree(node);
    if (run.visited.has(node)) return;
    const replacement = rule.replaceWith ?? null;
    if (isPrimitiveType(node.type)) {
      this.set(
        node,
        replacement === null ? undefined : primitiveReplacement(replacement, node.type),
        run,
      );
    } else {
      const fragment: Record<string, unknown> =
        replacement !== null && typeof replacement === 'object' && !Array.isArray(replacement)
          ? structuredClone(replacement as Record<string, unknown>)
          : {};
      const current = valueOf(node);
      // What an earlier rule took stays, whatever the fragment says about it.
      for (const child of node.children) {
        const touched = ResourceTree.subtree(child).some((n) => run.visited.has(n));
        if (touched && current && typeof current === 'object') {
          fragment[child.key] = (current as Record<string, unknown>)[child.key];
        }
      }
      this.set(node, fragment, run);
    }
    for (const element of elements) run.visited.add(element);
    run.operations.add('SUBSTITUTE');
  }

  private generalize(compiled: CompiledRule, node: TreeNode, run: Run): void {
    if (run.visited.has(node)) return;
    if (!isPrimitiveType(node.type)) {
      throw new Error(`generalize applies to primitive elements only, not to ${node.type}`);
    }
    run.visited.add(node);
    const value = valueOf(node);
    if (value === undefined || value === null) return;
    const result = generalize(
      value as PrimitiveValue,
      node.type,
      compiled.cases!,
      compiled.rule.otherValues ?? 'redact',
    );
    this.set(node, result.value, run);
    if (result.operation) run.operations.add(result.operation);
  }
}

/**
 * A function's results for recent values, in two generations so that filling up drops only the
 * older half: a patient's references recur across the resources exported after it.
 */
class RecentResults {
  private recent = new Map<string, string>();
  private older = new Map<string, string>();

  constructor(private readonly compute: (value: string) => string) {}

  of(value: string): string {
    let result = this.recent.get(value);
    if (result !== undefined) return result;
    result = this.older.get(value) ?? this.compute(value);
    if (this.recent.size >= HASH_CACHE_SIZE) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(value, result);
    return result;
  }
}

/** The resource's own property the element is under. */
function topKey(node: TreeNode): string {
  let top = node;
  while (top.parent?.parent) top = top.parent;
  return top.key;
}

function isReference(node: TreeNode): boolean {
  return node.name === 'reference' && node.parent?.type === 'Reference';
}

/** `replaceWith` in the JSON form of the element's type (numbers and booleans stay such). */
function primitiveReplacement(value: unknown, type: string): PrimitiveValue {
  if (NUMBER_TYPES.has(type) && typeof value === 'number') return value;
  if (type === 'boolean' && typeof value === 'boolean') return value;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * What `processingErrors: skip` writes for a resource the rules failed on (the reference's
 * "empty resource"): its type and the REDACTED label, nothing else.
 */
export function redactedStub(resourceType: string): Record<string, unknown> {
  return { resourceType, meta: { security: securityLabels(new Set(['REDACT'])) } };
}
