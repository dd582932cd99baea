import { Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UNPAIRED_SURROGATE } from '../common/control-characters';
import type { FhirIssue } from '../common/fhir-issues';
import type { IssueType } from '../common/operation-outcome';
import { FhirDefinitions } from './fhir-definitions.service';
import type { R4ElementTables } from './r4-elements';

/** Extracted from the R4 StructureDefinitions by `npm run definitions`; copied beside the code. */
export const R4_ELEMENTS_FILE = join(__dirname, 'r4-elements.json');

/** Deepest nesting of JSON objects and arrays a resource may have; real resources stay far below. */
export const MAX_NESTING_DEPTH = 100;
/** At most this many problems are reported for one request. */
export const MAX_ISSUES = 100;

export interface ValidateOptions {
  /** Expression of the resource itself; default its resourceType, e.g. `Bundle.entry[3].resource`. */
  path?: string;
  /**
   * Whether `urn:uuid:`/`urn:oid:` references may stay for the caller to resolve: only a
   * transaction rewrites them (http.html#trules). Elsewhere one resolves only to the fullUrl
   * of an entry of a Bundle that holds it. Default false.
   */
  allowUrnReferences?: boolean;
}

interface ElementRule {
  /** The element as declared, a choice as `value[x]`. */
  element: string;
  type: string;
  array: boolean;
}

interface TypeRules {
  /** JSON property name to its rule; a choice has one key per type, e.g. `valueQuantity`. */
  keys: ReadonlyMap<string, ElementRule>;
  /** Elements with min 1, each with the JSON names that satisfy it. */
  required: readonly { element: string; keys: readonly string[] }[];
}

type PrimitiveCheck = (value: unknown) => string | undefined;

interface Tables {
  types: Readonly<Record<string, Record<string, string>>>;
  primitives: ReadonlyMap<string, PrimitiveCheck>;
}

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
// JSON represents these primitives as numbers and booleans (json.html#primitive); all else strings.
const NUMBER_RANGES: Record<string, [number, number] | undefined> = {
  integer: [INT32_MIN, INT32_MAX],
  positiveInt: [1, INT32_MAX],
  unsignedInt: [0, INT32_MAX],
};
// The R4 regexes of string and markdown use XML Schema's \s, which JavaScript reads as every
// Unicode space: the text "a\u00a0b" would fail them. Non-empty and NUL-free is what they mean.
const FREE_TEXT = new Set(['string', 'markdown', 'xhtml']);
const BASE64 = /^[A-Za-z0-9+/=]*$/;
const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})/;

let tables: Tables | undefined;

/**
 * Validates resources against the R4 element definitions (structure, JSON types, primitive
 * formats, cardinality, required elements, extensions; not invariants, bindings or profiles)
 * and reports every problem, up to {@link MAX_ISSUES}, with a FHIRPath-like location. Type
 * rules are compiled on first use and shared by the process.
 */
@Injectable()
export class ResourceValidator {
  private readonly tables: Tables;
  private readonly rules = new Map<string, TypeRules>();

  constructor(private readonly definitions: FhirDefinitions) {
    tables ??= loadTables();
    this.tables = tables;
  }

  /** Every problem of `resource` as an R4 resource; empty when it is valid. */
  validate(resource: unknown, options: ValidateOptions = {}): FhirIssue[] {
    const walk = new Walk(this, options.allowUrnReferences ?? false);
    const type = isObject(resource) ? resource.resourceType : undefined;
    const path =
      options.path ?? (typeof type === 'string' && this.isResourceType(type) ? type : 'Resource');
    walk.resource(resource, path, 0, false);
    return walk.issues;
  }

  /**
   * Every problem of `value` as an element of `type` (a data type or a backbone path such as
   * `Bundle.entry`), located under `path`; lets a batch validate its entries one by one.
   */
  validateElement(value: unknown, type: string, path: string, options: ValidateOptions = {}) {
    const walk = new Walk(this, options.allowUrnReferences ?? false);
    walk.element(value, type, path);
    return walk.issues;
  }

  isResourceType(type: string): boolean {
    return this.definitions.isResourceType(type) && Object.hasOwn(this.tables.types, type);
  }

  primitive(type: string): PrimitiveCheck | undefined {
    return this.tables.primitives.get(type);
  }

  rulesOf(type: string): TypeRules {
    let rules = this.rules.get(type);
    if (!rules) {
      rules = compile(this.tables.types[type]);
      this.rules.set(type, rules);
    }
    return rules;
  }
}

/** One validation run: the issues found and the Bundle fullUrls that references may resolve to. */
class Walk {
  readonly issues: FhirIssue[] = [];
  private truncated = false;
  /** How many enclosing Bundles list each fullUrl (a count, so nested Bundles can share one). */
  private readonly fullUrls = new Map<string, number>();

  constructor(
    private readonly validator: ResourceValidator,
    private readonly allowUrnReferences: boolean,
  ) {}

  resource(value: unknown, path: string, depth: number, contained: boolean): void {
    if (!isObject(value)) {
      this.add('structure', path, 'must be a resource: a JSON object with a resourceType');
      return;
    }
    const type = value.resourceType;
    if (type === undefined) {
      this.add('required', `${path}.resourceType`, 'a resource must have a resourceType');
      return;
    }
    if (typeof type !== 'string' || !this.validator.isResourceType(type)) {
      this.add(
        'value',
        `${path}.resourceType`,
        `${JSON.stringify(type)} is not an R4 resource type`,
      );
      return;
    }
    if (contained && value.contained !== undefined) {
      this.add(
        'invariant',
        `${path}.contained`,
        'a contained resource cannot contain resources (dom-2)',
      );
    }
    const urls = type === 'Bundle' ? entryFullUrls(value) : [];
    for (const url of urls) this.fullUrls.set(url, (this.fullUrls.get(url) ?? 0) + 1);
    this.object(value, type, path, depth, true);
    for (const url of urls) {
      const left = (this.fullUrls.get(url) ?? 1) - 1;
      if (left > 0) this.fullUrls.set(url, left);
      else this.fullUrls.delete(url);
    }
  }

  element(value: unknown, type: string, path: string): void {
    this.object(value, type, path, path.split('.').length);
  }

  private object(
    value: unknown,
    type: string,
    path: string,
    depth: number,
    isResource = false,
  ): void {
    if (depth > MAX_NESTING_DEPTH) {
      this.add('structure', path, `is nested deeper than ${MAX_NESTING_DEPTH} levels`);
      return;
    }
    if (!isObject(value)) {
      this.add(
        'structure',
        path,
        `must be a JSON object (${typeName(type)}), not ${jsonType(value)}`,
      );
      return;
    }
    const keys = Object.keys(value);
    if (keys.length === 0) {
      this.add('value', path, 'must not be empty: FHIR has no empty objects');
      return;
    }
    const rules = this.validator.rulesOf(type);
    const choices = new Map<string, string>();
    for (const key of keys) {
      if (this.truncated) return;
      if (isResource && key === 'resourceType') continue;
      const name = key.startsWith('_') ? key.slice(1) : key;
      const rule = rules.keys.get(name);
      const at = `${path}.${key}`;
      if (!rule || (name !== key && !this.validator.primitive(rule.type))) {
        this.add('structure', at, unknownElement(key, type, rules));
        continue;
      }
      if (rule.element.endsWith('[x]')) {
        const other = choices.get(rule.element);
        if (other !== undefined && other !== name) {
          this.add('structure', at, `${rule.element} takes one type; ${other} is also present`);
        }
        choices.set(rule.element, name);
      }
      if (name === key) this.child(value[key], rule, at, depth + 1, value[`_${key}`]);
      else this.primitiveElement(value[key], rule, at, depth + 1, value[name]);
    }
    for (const { element, keys: names } of rules.required) {
      if (!names.some((n) => value[n] !== undefined || value[`_${n}`] !== undefined)) {
        this.add('required', `${path}.${element}`, `is required (${element} is 1..) but missing`);
      }
    }
    if (type === 'Extension') {
      const hasValue = keys.some((k) => k.startsWith('value') || k.startsWith('_value'));
      if (hasValue === (value.extension !== undefined)) {
        this.add(
          'invariant',
          path,
          'an extension has either a value[x] or nested extensions, not both or neither (ext-1)',
        );
      }
    }
    if (type === 'Reference' && !this.allowUrnReferences) this.reference(value, path);
  }

  private child(
    value: unknown,
    rule: ElementRule,
    path: string,
    depth: number,
    ext: unknown,
  ): void {
    if (!rule.array) {
      if (Array.isArray(value)) {
        this.add('structure', path, `${rule.element} is a single value (max 1), not an array`);
      } else if (value === null) {
        this.add('value', path, 'must not be null');
      } else {
        this.value(value, rule, path, depth);
      }
      return;
    }
    if (!Array.isArray(value)) {
      this.add('structure', path, `${rule.element} repeats (max *): it must be a JSON array`);
      return;
    }
    if (value.length === 0) {
      this.add('value', path, 'must not be an empty array: leave the element out');
      return;
    }
    const extensions = Array.isArray(ext) ? (ext as unknown[]) : [];
    value.forEach((item, i) => {
      if (item !== null) this.value(item, rule, `${path}[${i}]`, depth + 1);
      else if (!this.validator.primitive(rule.type) || isNullish(extensions[i])) {
        this.add('value', `${path}[${i}]`, 'must not be null');
      }
    });
  }

  /** `_birthDate`, `_given`: the id and extensions of primitive values (json.html#primitive). */
  private primitiveElement(
    value: unknown,
    rule: ElementRule,
    path: string,
    depth: number,
    primitive: unknown,
  ): void {
    if (!rule.array) {
      this.object(value, 'Element', path, depth);
      return;
    }
    if (!Array.isArray(value)) {
      this.add('structure', path, 'must be a JSON array, matching the values of the element');
      return;
    }
    if (Array.isArray(primitive) && primitive.length !== value.length) {
      this.add(
        'structure',
        path,
        `has ${value.length} items but its element has ${primitive.length}`,
      );
    }
    if (value.every(isNullish)) this.add('value', path, 'must not hold only nulls');
    value.forEach((item, i) => {
      if (!isNullish(item)) this.object(item, 'Element', `${path}[${i}]`, depth + 1);
    });
  }

  private value(value: unknown, rule: ElementRule, path: string, depth: number): void {
    const check = this.validator.primitive(rule.type);
    if (check) {
      const problem = check(value);
      if (problem) this.add('value', path, problem);
    } else if (rule.type === 'Resource') {
      this.resource(value, path, depth, rule.element === 'contained');
    } else {
      this.object(value, rule.type, path, depth);
    }
  }

  private reference(value: Record<string, unknown>, path: string): void {
    const { reference } = value;
    if (typeof reference !== 'string' || !/^urn:(uuid|oid):/.test(reference)) return;
    if (this.fullUrls.has(reference)) return;
    this.add(
      'invalid',
      `${path}.reference`,
      `${reference} cannot be resolved: urn:uuid: and urn:oid: references resolve only to ` +
        'entries of a transaction Bundle (or of the Bundle that holds them)',
    );
  }

  private add(code: IssueType, expression: string, diagnostics: string): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ code, expression, diagnostics });
    else this.truncated = true;
  }
}

function compile(elements: Record<string, string> | undefined): TypeRules {
  if (!elements) throw new Error('No R4 element table for this type');
  const keys = new Map<string, ElementRule>();
  const required: { element: string; keys: string[] }[] = [];
  for (const [element, spec] of Object.entries(elements)) {
    const mark = /[!*+]$/.exec(spec)?.[0] ?? '';
    const types = spec.slice(0, spec.length - mark.length).split('|');
    const array = mark === '*' || mark === '+';
    const names: string[] = [];
    if (element.endsWith('[x]')) {
      const base = element.slice(0, -3);
      for (const type of types) {
        const key = `${base}${type[0].toUpperCase()}${type.slice(1)}`;
        keys.set(key, { element, type, array });
        names.push(key);
      }
    } else {
      keys.set(element, { element, type: types[0], array });
      names.push(element);
    }
    if (mark === '!' || mark === '+') required.push({ element, keys: names });
  }
  return { keys, required };
}

function loadTables(): Tables {
  const file = JSON.parse(readFileSync(R4_ELEMENTS_FILE, 'utf8')) as R4ElementTables;
  const primitives = new Map<string, PrimitiveCheck>();
  for (const [type, regex] of Object.entries(file.primitives)) {
    primitives.set(type, primitiveCheck(type, regex));
  }
  return { types: file.types, primitives };
}

/** The JSON type, format and range rules of one primitive type (datatypes.html#primitive). */
function primitiveCheck(type: string, regex: string): PrimitiveCheck {
  if (type === 'boolean') {
    return (v) =>
      typeof v === 'boolean' ? undefined : `must be a JSON boolean, not ${jsonType(v)}`;
  }
  if (type === 'decimal' || NUMBER_RANGES[type]) {
    const range = NUMBER_RANGES[type];
    return (v) => {
      if (typeof v !== 'number') return `must be a JSON number (${type}), not ${jsonType(v)}`;
      if (!Number.isFinite(v)) return 'is a number too large to be stored exactly';
      if (!range) return undefined;
      if (!Number.isInteger(v)) return `must be a whole number (${type}), not ${v}`;
      if (v < range[0] || v > range[1])
        return `${v} is outside the ${type} range ${range[0]}..${range[1]}`;
      return undefined;
    };
  }
  const pattern =
    FREE_TEXT.has(type) || type === 'base64Binary' || regex === ''
      ? undefined
      : new RegExp(`^(?:${regex})$`);
  return (v) => {
    if (typeof v !== 'string') return `must be a JSON string (${type}), not ${jsonType(v)}`;
    if (v.length === 0) return 'must not be an empty string: leave the element out';
    if (v.includes('\u0000')) return 'must not contain a NUL character (\\u0000)';
    if (UNPAIRED_SURROGATE.test(v)) return 'must be Unicode text: it holds an unpaired surrogate';
    if (type === 'base64Binary') {
      const text = v.replace(/\s+/g, '');
      return BASE64.test(text) && text.length % 4 === 0 ? undefined : 'is not valid base64Binary';
    }
    if (pattern && !pattern.test(v)) return `${JSON.stringify(truncate(v))} is not a valid ${type}`;
    if ((type === 'date' || type === 'dateTime' || type === 'instant') && !isCalendarDate(v)) {
      return `${JSON.stringify(truncate(v))} is not a valid ${type}: no such day`;
    }
    return undefined;
  };
}

function isCalendarDate(value: string): boolean {
  const match = DATE_PREFIX.exec(value);
  if (!match) return true;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  return day <= days;
}

function unknownElement(key: string, type: string, rules: TypeRules): string {
  const choice = [...rules.keys.values()].find(
    (r) => r.element.endsWith('[x]') && key.startsWith(r.element.slice(0, -3)),
  );
  const hint = choice
    ? `; ${choice.element} takes ${[...rules.keys]
        .filter(([, r]) => r === choice || r.element === choice.element)
        .map(([k]) => k)
        .join(', ')}`
    : '';
  return `${key} is not an element of ${typeName(type)}${hint}`;
}

function entryFullUrls(bundle: Record<string, unknown>): string[] {
  if (!Array.isArray(bundle.entry)) return [];
  return bundle.entry.flatMap((e: unknown) =>
    isObject(e) && typeof e.fullUrl === 'string' ? [e.fullUrl] : [],
  );
}

function typeName(type: string): string {
  return type.includes('.') ? `the ${type} element` : type;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `the ${typeof value} ${truncate(JSON.stringify(value))}`;
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isNullish(value: unknown): boolean {
  return value === null || value === undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
