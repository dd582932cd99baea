import { TextDecoder } from 'node:util';

/** Method names as the reference spells them; configurations may use any letter case. */
export type AnonymizationMethod =
  | 'keep'
  | 'redact'
  | 'dateShift'
  | 'cryptoHash'
  | 'encrypt'
  | 'substitute'
  | 'perturb'
  | 'generalize';

/** One entry of `fhirPathRules`, with the method's parameters validated and defaulted. */
export interface AnonymizationRule {
  /** Position in `fhirPathRules`: rules run in file order and the first to touch a node wins. */
  index: number;
  path: string;
  method: AnonymizationMethod;
  /** substitute: the replacement value; present (possibly null) exactly when method is substitute. */
  replaceWith?: unknown;
  /** perturb: width of the noise range (absolute, or a fraction of the value when proportional). */
  span?: number;
  rangeType?: 'fixed' | 'proportional';
  /** perturb: decimal places kept; 0 to 28 as .NET `decimal.Round` allows. */
  roundTo?: number;
  /** generalize: FHIRPath condition on `$this` → FHIRPath expression giving the new value. */
  cases?: Record<string, string>;
  otherValues?: 'redact' | 'keep';
}

export interface AnonymizationParameters {
  /** Undefined when absent or empty: the engine then makes a key for the job. */
  dateShiftKey?: string;
  /** `patient` is this server's addition: one offset per patient compartment. */
  dateShiftScope: 'resource' | 'patient';
  dateShiftFixedOffsetInDays?: number;
  cryptoHashKey?: string;
  /** Raw UTF-8 bytes of the string are the AES key, so its byte length is 16, 24 or 32. */
  encryptKey?: string;
  enablePartialAgesForRedact: boolean;
  enablePartialDatesForRedact: boolean;
  enablePartialZipCodesForRedact: boolean;
  /** 3-digit zip prefixes whose codes become all zeros under partial zip redaction. */
  restrictedZipCodeTabulationAreas: string[];
}

export interface AnonymizationConfig {
  fhirVersion: 'R4';
  processingErrors: 'raise' | 'skip';
  rules: AnonymizationRule[];
  parameters: AnonymizationParameters;
}

/** A configuration that cannot be used; the message is safe to show to the client. */
export class AnonymizationConfigError extends Error {
  constructor(
    message: string,
    readonly ruleIndex?: number,
  ) {
    super(message);
    this.name = 'AnonymizationConfigError';
  }
}

export interface ParsedAnonymizationConfig {
  config: AnonymizationConfig;
  /** Things the reference accepts that we read differently or ignore, for the job's log. */
  warnings: string[];
}

/** FHIRPath compilers for rule paths and generalize cases; each throws when its input is unusable. */
export interface AnonymizationConfigChecks {
  compilePath(path: string): void;
  compileExpression(expression: string): void;
}

/** The reference server's limit on a configuration blob. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const METHODS: Readonly<Record<string, AnonymizationMethod>> = {
  keep: 'keep',
  redact: 'redact',
  dateshift: 'dateShift',
  cryptohash: 'cryptoHash',
  encrypt: 'encrypt',
  substitute: 'substitute',
  perturb: 'perturb',
  generalize: 'generalize',
};

const METHOD_KEYS: Readonly<Record<AnonymizationMethod, readonly string[]>> = {
  keep: [],
  redact: [],
  dateShift: [],
  cryptoHash: [],
  encrypt: [],
  substitute: ['replaceWith'],
  perturb: ['span', 'rangeType', 'roundTo'],
  generalize: ['cases', 'otherValues'],
};

const ANY_METHOD_KEYS = new Set(Object.values(METHOD_KEYS).flat());

const TOP_LEVEL_KEYS = new Set([
  'fhirVersion',
  'processingErrors',
  'processingError',
  'fhirPathRules',
  'parameters',
]);

const PARAMETER_KEYS = new Set([
  'dateShiftKey',
  'dateShiftScope',
  'dateShiftFixedOffsetInDays',
  'cryptoHashKey',
  'encryptKey',
  'enablePartialAgesForRedact',
  'enablePartialDatesForRedact',
  'enablePartialZipCodesForRedact',
  'restrictedZipCodeTabulationAreas',
]);

const AES_KEY_BYTES = [16, 24, 32];
const MAX_FIXED_OFFSET_DAYS = 36500;
const MAX_ROUND_TO = 28;
const MAX_ECHO = 100;
const MAX_COMPILER_MESSAGE = 200;

/**
 * Reads and validates a FHIR Anonymizer configuration (Microsoft Tools-for-Health-Data-Anonymization,
 * docs/FHIR-anonymization.md "Configuration file format"; the checks of its
 * `AnonymizerConfigurationValidator`) before any data is touched. Throws AnonymizationConfigError at
 * the first problem. Deliberately stricter than the reference: duplicate keys are reported with
 * their location, unknown methods and `dateShiftScope` `file`/`folder` are errors, and only R4 is
 * read.
 */
export function parseAnonymizationConfig(
  text: string | Buffer,
  checks: AnonymizationConfigChecks,
): ParsedAnonymizationConfig {
  const root = parseStrictJson(decode(text));
  if (!isRecord(root)) {
    throw new AnonymizationConfigError(
      `The anonymization configuration must be a JSON object, not ${kindOf(root)}.`,
    );
  }
  const warnings: string[] = [];
  for (const key of Object.keys(root)) {
    if (!TOP_LEVEL_KEYS.has(key)) {
      warnings.push(`Top-level key ${quote(key)} is not part of the configuration and is ignored.`);
    }
  }
  const config: AnonymizationConfig = {
    fhirVersion: readFhirVersion(root, warnings),
    processingErrors: readProcessingErrors(root, warnings),
    rules: readRules(root, checks, warnings),
    parameters: readParameters(given(root, 'parameters'), warnings),
  };
  return { config, warnings };
}

function decode(text: string | Buffer): string {
  const bytes = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.length;
  if (bytes > MAX_CONFIG_BYTES) {
    throw new AnonymizationConfigError(
      `The anonymization configuration is ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES} bytes (1 MB).`,
    );
  }
  if (typeof text !== 'string') {
    try {
      // The decoder drops a leading byte order mark, which Windows editors add to JSON files.
      return new TextDecoder('utf-8', { fatal: true }).decode(text);
    } catch {
      throw new AnonymizationConfigError(
        'The anonymization configuration is not JSON: it is not valid UTF-8 text.',
      );
    }
  }
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/** JSON.parse keeps the last of duplicate keys silently, so the text is scanned first. */
function parseStrictJson(source: string): unknown {
  new StrictJsonScanner(source).scan();
  try {
    return JSON.parse(source) as unknown;
  } catch {
    // Unreachable while the scanner follows RFC 8259 as JSON.parse does; V8's message would
    // quote the input, so it is not passed on.
    throw new AnonymizationConfigError('The anonymization configuration is not JSON.');
  }
}

interface ObjectFrame {
  kind: 'object';
  keys: Set<string>;
  /** The member being read, to say where a duplicate is. */
  key: string;
}

interface ArrayFrame {
  kind: 'array';
  index: number;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const SIMPLE_ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/**
 * An RFC 8259 syntax check in one linear pass that also rejects duplicate keys, as the reference's
 * Newtonsoft reader does (`DuplicatePropertyNameHandling.Error`). Nesting is kept on an explicit
 * stack, so deeply nested input cannot overflow the call stack. Error messages give a line and
 * column and never quote more than one character of the input.
 */
class StrictJsonScanner {
  private pos = 0;
  private readonly frames: (ObjectFrame | ArrayFrame)[] = [];
  /** The first duplicate key, reported once the whole text is known to be JSON. */
  private firstDuplicate?: AnonymizationConfigError;

  constructor(private readonly text: string) {}

  scan(): void {
    this.value();
    while (this.frames.length > 0) {
      const frame = this.frames[this.frames.length - 1];
      this.skipWhitespace();
      const char = this.text[this.pos];
      if (char === ',') {
        this.pos++;
        if (frame.kind === 'array') frame.index++;
        else this.key(frame);
        this.value();
      } else if (char === (frame.kind === 'array' ? ']' : '}')) {
        this.pos++;
        this.frames.pop();
      } else {
        this.fail(frame.kind === 'array' ? "expected ',' or ']'" : "expected ',' or '}'");
      }
    }
    this.skipWhitespace();
    if (this.pos < this.text.length) this.fail('expected nothing after the end of the JSON value');
    if (this.firstDuplicate) throw this.firstDuplicate;
  }

  /** Reads one value; an object or array is opened and its first member started, not recursed. */
  private value(): void {
    for (;;) {
      this.skipWhitespace();
      const char = this.text[this.pos];
      if (char !== '{' && char !== '[') {
        this.scalar(char);
        return;
      }
      this.pos++;
      this.skipWhitespace();
      if (this.text[this.pos] === (char === '{' ? '}' : ']')) {
        this.pos++;
        return;
      }
      if (char === '[') {
        this.frames.push({ kind: 'array', index: 0 });
      } else {
        const frame: ObjectFrame = { kind: 'object', keys: new Set(), key: '' };
        this.frames.push(frame);
        this.key(frame);
      }
    }
  }

  private key(frame: ObjectFrame): void {
    this.skipWhitespace();
    if (this.text[this.pos] !== '"') this.fail('expected a property name in double quotes');
    const start = this.pos;
    const name = this.string();
    if (frame.keys.has(name)) this.firstDuplicate ??= this.duplicate(name, start);
    frame.keys.add(name);
    frame.key = name;
    this.skipWhitespace();
    if (this.text[this.pos] !== ':') this.fail("expected ':' after a property name");
    this.pos++;
  }

  private scalar(char: string | undefined): void {
    if (char === '"') {
      this.string();
    } else if (char === 't' || char === 'f' || char === 'n') {
      const word = char === 't' ? 'true' : char === 'f' ? 'false' : 'null';
      if (!this.text.startsWith(word, this.pos)) this.fail(`unexpected ${this.describeChar()}`);
      this.pos += word.length;
    } else if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) {
      NUMBER.lastIndex = this.pos;
      if (!NUMBER.test(this.text)) this.fail('invalid number');
      this.pos = NUMBER.lastIndex;
    } else {
      this.fail(`unexpected ${this.describeChar()}`);
    }
  }

  /** Reads a string starting at the opening quote and returns its value. */
  private string(): string {
    const start = this.pos++;
    let escaped = false;
    for (;;) {
      const code = this.text.charCodeAt(this.pos);
      if (Number.isNaN(code)) this.fail('unterminated string', start);
      if (code === 0x22) break;
      if (code === 0x5c) {
        escaped = true;
        const next = this.text[this.pos + 1];
        if (next === 'u' && HEX4.test(this.text.slice(this.pos + 2, this.pos + 6))) this.pos += 6;
        else if (next !== undefined && SIMPLE_ESCAPES.has(next)) this.pos += 2;
        else this.fail('invalid escape sequence in a string');
      } else if (code < 0x20) {
        this.fail('control character in a string (write it as an escape)');
      } else {
        this.pos++;
      }
    }
    this.pos++;
    const raw = this.text.slice(start, this.pos);
    return escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  }

  private skipWhitespace(): void {
    for (;;) {
      const code = this.text.charCodeAt(this.pos);
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) return;
      this.pos++;
    }
  }

  private describeChar(): string {
    const char = this.text[this.pos];
    if (char === undefined) return 'end of text';
    if (char >= ' ' && char <= '~') return `'${char}'`;
    return `character U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  }

  private duplicate(name: string, at: number): AnonymizationConfigError {
    let path = '';
    for (const frame of this.frames.slice(0, -1)) {
      path +=
        frame.kind === 'array'
          ? `[${frame.index}]`
          : /^[A-Za-z_$][\w$]*$/.test(frame.key)
            ? `${path === '' ? '' : '.'}${frame.key}`
            : `[${JSON.stringify(frame.key)}]`;
    }
    const where = path === '' ? 'the top-level object' : `the object at ${clip(path)}`;
    return new AnonymizationConfigError(
      `The anonymization configuration has the key ${quote(name)} twice in ${where} ` +
        `(${this.location(at)}); each key may appear only once.`,
    );
  }

  private fail(reason: string, at = this.pos): never {
    throw new AnonymizationConfigError(
      `The anonymization configuration is not JSON: ${reason} at ${this.location(at)}.`,
    );
  }

  private location(at: number): string {
    let line = 1;
    let lineStart = 0;
    for (let i = this.text.indexOf('\n'); i !== -1 && i < at; i = this.text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    return `line ${line}, column ${at - lineStart + 1}`;
  }
}

function readFhirVersion(root: Record<string, unknown>, warnings: string[]): 'R4' {
  const version = given(root, 'fhirVersion');
  if (version === undefined) {
    warnings.push('fhirVersion is missing; the configuration is read as R4.');
    return 'R4';
  }
  if (typeof version !== 'string') {
    throw new AnonymizationConfigError(
      `fhirVersion must be a string such as "R4", not ${kindOf(version)}.`,
    );
  }
  // Empty means "the engine's version" in the reference, which for this server is R4.
  if (version === '' || version.toUpperCase() === 'R4') return 'R4';
  throw new AnonymizationConfigError(
    `fhirVersion ${quote(version)} is not supported: this server reads R4 configurations only.`,
  );
}

function readProcessingErrors(root: Record<string, unknown>, warnings: string[]): 'raise' | 'skip' {
  const correct = processingMode(root, 'processingErrors');
  // The Azure documentation shows the singular key; the reference ignores it and raises.
  const misspelt = processingMode(root, 'processingError');
  if (misspelt !== undefined) {
    if (correct !== undefined && correct !== misspelt) {
      throw new AnonymizationConfigError(
        `processingErrors is "${correct}" but processingError, read as processingErrors, is "${misspelt}"; keep only processingErrors.`,
      );
    }
    warnings.push(
      'processingError is read as processingErrors; the reference tool ignores the misspelt key and always raises.',
    );
  }
  return correct ?? misspelt ?? 'raise';
}

function processingMode(
  root: Record<string, unknown>,
  key: 'processingErrors' | 'processingError',
): 'raise' | 'skip' | undefined {
  const value = given(root, key);
  if (value === undefined) return undefined;
  const mode = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (mode === 'raise' || mode === 'skip') return mode;
  throw new AnonymizationConfigError(`${key} must be "raise" or "skip", not ${describe(value)}.`);
}

function readRules(
  root: Record<string, unknown>,
  checks: AnonymizationConfigChecks,
  warnings: string[],
): AnonymizationRule[] {
  const rules = given(root, 'fhirPathRules');
  if (rules === undefined) {
    throw new AnonymizationConfigError(
      'fhirPathRules is missing: give at least one rule such as {"path": "Patient.name", "method": "redact"}.',
    );
  }
  if (!Array.isArray(rules)) {
    throw new AnonymizationConfigError(
      `fhirPathRules must be an array of rules, not ${kindOf(rules)}.`,
    );
  }
  if (rules.length === 0) {
    throw new AnonymizationConfigError('fhirPathRules is empty: give at least one rule.');
  }
  return rules.map((rule, index) => readRule(rule, index, checks, warnings));
}

function readRule(
  rule: unknown,
  index: number,
  checks: AnonymizationConfigChecks,
  warnings: string[],
): AnonymizationRule {
  const at = `fhirPathRules[${index}]`;
  if (!isRecord(rule)) {
    throw new AnonymizationConfigError(
      `${at} must be an object with "path" and "method", not ${kindOf(rule)}.`,
      index,
    );
  }
  const path = given(rule, 'path');
  if (typeof path !== 'string' || path.trim() === '') {
    throw new AnonymizationConfigError(
      `${at}: "path" must be a non-empty FHIRPath string, not ${describe(path)}.`,
      index,
    );
  }
  const named = `${at} (path ${quote(path)})`;
  const fail = (reason: string) => new AnonymizationConfigError(`${named}: ${reason}`, index);

  const methodName = given(rule, 'method');
  if (typeof methodName !== 'string') {
    throw fail(`"method" must be a string such as "redact", not ${describe(methodName)}.`);
  }
  const method = METHODS[methodName.toLowerCase()];
  if (method === undefined) {
    // The reference only warns ("may be a custom processor") and fails when the rule first runs.
    throw fail(
      `method ${quote(methodName)} is not supported; use one of ${Object.values(METHODS).join(', ')}.`,
    );
  }
  try {
    checks.compilePath(path);
  } catch (error) {
    throw fail(`the path does not compile: ${compilerMessage(error)}`);
  }

  const parsed: AnonymizationRule = { index, path, method };
  switch (method) {
    case 'substitute':
      if (!Object.hasOwn(rule, 'replaceWith')) {
        throw fail('substitute needs "replaceWith", the value to put in place (null is allowed).');
      }
      parsed.replaceWith = rule.replaceWith;
      break;
    case 'perturb':
      Object.assign(parsed, readPerturb(rule, fail));
      break;
    case 'generalize':
      Object.assign(parsed, readGeneralize(rule, checks, fail));
      break;
    case 'keep':
    case 'redact':
    case 'dateShift':
    case 'cryptoHash':
    case 'encrypt':
      break;
  }

  for (const key of Object.keys(rule)) {
    if (key === 'path' || key === 'method' || METHOD_KEYS[method].includes(key)) continue;
    warnings.push(
      ANY_METHOD_KEYS.has(key)
        ? `${named}: ${quote(key)} is not used by method ${method} and is ignored.`
        : `${named}: unknown key ${quote(key)} is ignored.`,
    );
  }
  return parsed;
}

function readPerturb(
  rule: Record<string, unknown>,
  fail: (reason: string) => AnonymizationConfigError,
): Pick<AnonymizationRule, 'span' | 'rangeType' | 'roundTo'> {
  const span = given(rule, 'span');
  if (span === undefined) {
    throw fail('perturb needs "span", a number ≥ 0 giving the width of the noise range.');
  }
  if (typeof span !== 'number' || !Number.isFinite(span) || span < 0) {
    throw fail(`"span" must be a number ≥ 0, not ${describe(span)}.`);
  }
  const rangeValue = given(rule, 'rangeType') ?? 'fixed';
  const rangeType = typeof rangeValue === 'string' ? rangeValue.toLowerCase() : undefined;
  if (rangeType !== 'fixed' && rangeType !== 'proportional') {
    throw fail(`"rangeType" must be "fixed" or "proportional", not ${describe(rangeValue)}.`);
  }
  const roundTo = given(rule, 'roundTo') ?? 2;
  if (!Number.isInteger(roundTo) || (roundTo as number) < 0 || (roundTo as number) > MAX_ROUND_TO) {
    throw fail(`"roundTo" must be an integer from 0 to ${MAX_ROUND_TO}, not ${describe(roundTo)}.`);
  }
  return { span, rangeType, roundTo: roundTo as number };
}

function readGeneralize(
  rule: Record<string, unknown>,
  checks: AnonymizationConfigChecks,
  fail: (reason: string) => AnonymizationConfigError,
): Pick<AnonymizationRule, 'cases' | 'otherValues'> {
  const cases = given(rule, 'cases');
  if (!isRecord(cases)) {
    throw fail(
      `generalize needs "cases", an object from FHIRPath conditions to FHIRPath expressions, not ${kindOf(cases)}.`,
    );
  }
  const compiled: Record<string, string> = {};
  for (const [condition, expression] of Object.entries(cases)) {
    if (typeof expression !== 'string') {
      throw fail(
        `case ${quote(condition)} must map to a FHIRPath expression string, not ${kindOf(expression)}.`,
      );
    }
    for (const [role, text] of [
      ['condition', condition],
      ['expression', expression],
    ]) {
      try {
        checks.compileExpression(text);
      } catch (error) {
        throw fail(`case ${role} ${quote(text)} does not compile: ${compilerMessage(error)}`);
      }
    }
    compiled[condition] = expression;
  }
  const otherValue = given(rule, 'otherValues') ?? 'redact';
  const otherValues = typeof otherValue === 'string' ? otherValue.toLowerCase() : undefined;
  if (otherValues !== 'redact' && otherValues !== 'keep') {
    throw fail(`"otherValues" must be "redact" or "keep", not ${describe(otherValue)}.`);
  }
  return { cases: compiled, otherValues };
}

function readParameters(value: unknown, warnings: string[]): AnonymizationParameters {
  const parameters = value ?? {};
  if (!isRecord(parameters)) {
    throw new AnonymizationConfigError(`parameters must be an object, not ${kindOf(parameters)}.`);
  }
  for (const key of Object.keys(parameters)) {
    if (key === 'customSettings') {
      warnings.push('parameters.customSettings is ignored: this server has no custom processors.');
    } else if (!PARAMETER_KEYS.has(key)) {
      warnings.push(`Unknown parameter ${quote(key)} is ignored.`);
    }
  }
  return {
    dateShiftKey: readSecret(parameters, 'dateShiftKey'),
    dateShiftScope: readDateShiftScope(given(parameters, 'dateShiftScope')),
    dateShiftFixedOffsetInDays: readFixedOffset(given(parameters, 'dateShiftFixedOffsetInDays')),
    cryptoHashKey: readSecret(parameters, 'cryptoHashKey'),
    encryptKey: readEncryptKey(parameters),
    enablePartialAgesForRedact: readFlag(parameters, 'enablePartialAgesForRedact'),
    enablePartialDatesForRedact: readFlag(parameters, 'enablePartialDatesForRedact'),
    enablePartialZipCodesForRedact: readFlag(parameters, 'enablePartialZipCodesForRedact'),
    restrictedZipCodeTabulationAreas: readZipAreas(
      given(parameters, 'restrictedZipCodeTabulationAreas'),
    ),
  };
}

/** Keys are never echoed: error messages end up in job status responses and logs. */
function readSecret(parameters: Record<string, unknown>, key: string): string | undefined {
  const value = given(parameters, key);
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new AnonymizationConfigError(`parameters.${key} must be a string, not ${kindOf(value)}.`);
  }
  return value;
}

function readEncryptKey(parameters: Record<string, unknown>): string | undefined {
  const key = readSecret(parameters, 'encryptKey');
  if (key === undefined) return undefined;
  const bytes = Buffer.byteLength(key, 'utf8');
  if (!AES_KEY_BYTES.includes(bytes)) {
    throw new AnonymizationConfigError(
      `parameters.encryptKey is ${bytes} bytes in UTF-8; its bytes are the AES key, so it must be 16, 24 or 32 bytes long (128, 192 or 256 bits).`,
    );
  }
  return key;
}

function readDateShiftScope(value: unknown): 'resource' | 'patient' {
  if (value === undefined) return 'resource';
  const scope = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (scope === 'resource' || scope === 'patient') return scope;
  if (scope === 'file' || scope === 'folder') {
    throw new AnonymizationConfigError(
      `parameters.dateShiftScope "${scope}" only applies to the reference's command-line tool, which shifts every resource in one ${scope} by the same offset. ` +
        'Use "resource" (one offset per resource, as the reference FHIR server does) or "patient" (one offset per patient compartment).',
    );
  }
  throw new AnonymizationConfigError(
    `parameters.dateShiftScope must be "resource" or "patient", not ${describe(value)}.`,
  );
}

function readFixedOffset(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || Math.abs(value as number) > MAX_FIXED_OFFSET_DAYS) {
    throw new AnonymizationConfigError(
      `parameters.dateShiftFixedOffsetInDays must be a whole number of days from -${MAX_FIXED_OFFSET_DAYS} to ${MAX_FIXED_OFFSET_DAYS}, not ${describe(value)}.`,
    );
  }
  return value as number;
}

function readFlag(parameters: Record<string, unknown>, key: string): boolean {
  const value = given(parameters, key) ?? false;
  if (typeof value !== 'boolean') {
    throw new AnonymizationConfigError(
      `parameters.${key} must be true or false, not ${describe(value)}.`,
    );
  }
  return value;
}

function readZipAreas(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new AnonymizationConfigError(
      `parameters.restrictedZipCodeTabulationAreas must be an array of 3-digit strings, not ${kindOf(value)}.`,
    );
  }
  return value.map((area: unknown, index) => {
    if (typeof area !== 'string' || !/^\d{3}$/.test(area)) {
      throw new AnonymizationConfigError(
        `parameters.restrictedZipCodeTabulationAreas[${index}] must be a 3-digit zip code prefix such as "036", not ${describe(area)}.`,
      );
    }
    return area;
  });
}

/** A member's value; null counts as absent, as it does for the reference's Newtonsoft reader. */
function given(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) && object[key] !== null ? object[key] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return kindOf(value);
}

function quote(text: string): string {
  return clip(JSON.stringify(text));
}

function clip(text: string): string {
  return text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO - 1)}…` : text;
}

function compilerMessage(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error))
    .replace(/\s+/g, ' ')
    .trim();
  return message.length > MAX_COMPILER_MESSAGE
    ? `${message.slice(0, MAX_COMPILER_MESSAGE - 1)}…`
    : message;
}
