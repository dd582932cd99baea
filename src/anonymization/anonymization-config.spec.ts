import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { compile } from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import {
  AnonymizationConfigChecks,
  AnonymizationConfigError,
  MAX_CONFIG_BYTES,
  parseAnonymizationConfig,
  ParsedAnonymizationConfig,
} from './anonymization-config';
import { compileRulePath } from './rule-selector';

/** Stands in for the FHIRPath compiler: `((` is the only syntax error it knows. */
const stubChecks: AnonymizationConfigChecks = {
  compilePath(path) {
    if (path.includes('((')) throw new Error('unbalanced parentheses');
  },
  compileExpression(expression) {
    if (expression.includes('((')) throw new Error('unbalanced parentheses');
  },
};

/** The checks the server runs (see read-anonymization-config). */
const fhirPathChecks: AnonymizationConfigChecks = {
  compilePath(path) {
    compileRulePath(path);
  },
  compileExpression(expression) {
    compile(expression, r4Model);
  },
};

const REPO = join(__dirname, '..', '..');

/** A valid configuration's text, with top-level members replaced or added. */
function configText(members: Record<string, unknown> = {}): string {
  return JSON.stringify({
    fhirVersion: 'R4',
    fhirPathRules: [{ path: 'Patient.name', method: 'redact' }],
    ...members,
  });
}

function withRule(rule: Record<string, unknown>): string {
  return configText({ fhirPathRules: [{ path: 'Patient.id', method: 'keep' }, rule] });
}

function withParameters(parameters: unknown): string {
  return configText({ parameters });
}

function parse(text: string | Buffer, checks = stubChecks): ParsedAnonymizationConfig {
  return parseAnonymizationConfig(text, checks);
}

function rejection(text: string | Buffer, checks = stubChecks): AnonymizationConfigError {
  try {
    parseAnonymizationConfig(text, checks);
  } catch (error) {
    if (error instanceof AnonymizationConfigError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('parseAnonymizationConfig', () => {
  describe('reading the text', () => {
    it('reads a minimal configuration with every default filled in', () => {
      expect(parse(configText())).toEqual({
        config: {
          fhirVersion: 'R4',
          processingErrors: 'raise',
          rules: [{ index: 0, path: 'Patient.name', method: 'redact' }],
          parameters: {
            dateShiftScope: 'resource',
            enablePartialAgesForRedact: false,
            enablePartialDatesForRedact: false,
            enablePartialZipCodesForRedact: false,
            restrictedZipCodeTabulationAreas: [],
          },
        },
        warnings: [],
      });
    });

    it('reads a UTF-8 buffer and drops a byte order mark', () => {
      const bom = Buffer.from([0xef, 0xbb, 0xbf]);
      const parsed = parse(Buffer.concat([bom, Buffer.from(configText())]));
      expect(parsed.config.rules).toHaveLength(1);
      expect(parse('\uFEFF' + configText()).config.rules).toHaveLength(1);
    });

    it('rejects bytes that are not UTF-8', () => {
      const text = Buffer.concat([Buffer.from('{"fhirVersion": "'), Buffer.from([0xc3, 0x28])]);
      expect(rejection(text).message).toBe(
        'The anonymization configuration is not JSON: it is not valid UTF-8 text.',
      );
    });

    it.each([
      ['', 'unexpected end of text at line 1, column 1'],
      ['{"fhirPathRules": [],}', 'expected a property name in double quotes at line 1, column 22'],
      ['{\n  "a": 1\n  "b": 2\n}', "expected ',' or '}' at line 3, column 3"],
      ["{'a': 1}", 'expected a property name in double quotes at line 1, column 2'],
      ['{"a": [1, 2}', "expected ',' or ']' at line 1, column 12"],
      ['{"a": "no end}', 'unterminated string at line 1, column 7'],
      ['{"a": "\\x"}', 'invalid escape sequence in a string at line 1, column 8'],
      ['{"a": "\\u12G4"}', 'invalid escape sequence in a string at line 1, column 8'],
      [
        '{"a": "tab\there"}',
        'control character in a string (write it as an escape) at line 1, column 11',
      ],
      ['{"a": 01}', "expected ',' or '}' at line 1, column 8"],
      ['{"a": -}', 'invalid number at line 1, column 7'],
      ['{"a": tru}', "unexpected 't' at line 1, column 7"],
      ['{"a": NaN}', "unexpected 'N' at line 1, column 7"],
      ['{"a": 1} {}', 'expected nothing after the end of the JSON value at line 1, column 10'],
      ['{"a" 1}', "expected ':' after a property name at line 1, column 6"],
      ['{"a": 1 /* note */}', "expected ',' or '}' at line 1, column 9"],
    ])('rejects %j as not JSON, saying where', (text, where) => {
      expect(rejection(text).message).toBe(
        `The anonymization configuration is not JSON: ${where}.`,
      );
    });

    it('accepts exactly the syntax JSON.parse accepts, on JSON with one character changed', () => {
      const char = fc.constantFrom(...'{}[]:,"\\/ \n\t\u000001-.eE+aflnrstu\u00e9\u2028'.split(''));
      const edit = fc.record({
        json: fc.json({ maxDepth: 3 }),
        at: fc.nat(),
        char,
        kind: fc.constantFrom('insert', 'delete', 'replace'),
      });
      fc.assert(
        fc.property(edit, ({ json, at, char, kind }) => {
          const i = at % (json.length + 1);
          const text =
            json.slice(0, i) +
            (kind === 'delete' ? '' : char) +
            json.slice(kind === 'insert' ? i : i + 1);
          let validJson = true;
          try {
            JSON.parse(text);
          } catch {
            validJson = false;
          }
          let notJson = false;
          try {
            parse(text);
          } catch (error) {
            if (!(error instanceof AnonymizationConfigError)) throw error;
            notJson = error.message.includes('is not JSON');
          }
          expect(notJson).toBe(!validJson);
        }),
        { numRuns: 3000 },
      );
    });

    it('passes any JSON value without duplicate keys on to validation', () => {
      fc.assert(
        fc.property(fc.json({ maxDepth: 4 }), (text) => {
          const message = rejection(`{"fhirPathRules": [], "x": ${text}}`).message;
          expect(message).toBe('fhirPathRules is empty: give at least one rule.');
        }),
      );
    });

    it('never quotes more than one character of text that is not JSON', () => {
      const secretish = 'x'.repeat(5000);
      const message = rejection(`{"a": ${secretish}}`).message;
      expect(message).not.toContain('xx');
      expect(message.length).toBeLessThan(120);
    });

    it('accepts every JSON construct the scanner has to step over', () => {
      const escapes = String.raw`"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`;
      const text =
        '\r\n\t{ "fhirPathRules" : [ {"path": "Patient", "method": "keep"} ] ,\n' +
        `"x": {"nested": [[], {}, [{"a": [0, 1, -0.5e-3, 2E+10, 3e-0, true, false, null]}]],` +
        ` ${escapes}: ${escapes}, "": "é\u2028", "k": {"": 0}} } `;
      expect(JSON.parse(text)).toBeDefined();
      expect(parse(text).config.rules).toHaveLength(1);
    });

    it('handles nesting far deeper than the call stack allows', () => {
      const depth = 200_000;
      const text = configText({ parameters: { customSettings: 'PLACEHOLDER' } }).replace(
        '"PLACEHOLDER"',
        '['.repeat(depth) + ']'.repeat(depth),
      );
      expect(parse(text).warnings).toEqual([
        'parameters.customSettings is ignored: this server has no custom processors.',
      ]);
    });

    it('rejects a 2 MB configuration before reading it', () => {
      const text = configText({ padding: 'x'.repeat(2 * 1024 * 1024) });
      const size = Buffer.byteLength(text);
      expect(rejection(text).message).toBe(
        `The anonymization configuration is ${size} bytes; the limit is 1048576 bytes (1 MB).`,
      );
      expect(rejection(Buffer.from(text)).message).toContain('the limit is 1048576 bytes');
    });

    it('counts the limit in UTF-8 bytes, not characters', () => {
      const base = configText({ padding: '' });
      const twoByteChars = Math.ceil((MAX_CONFIG_BYTES - base.length) / 2) + 1;
      const text = configText({ padding: 'é'.repeat(twoByteChars) });
      expect(text.length).toBeLessThan(MAX_CONFIG_BYTES);
      expect(rejection(text).message).toContain('the limit is 1048576 bytes');
    });

    it('accepts a configuration of exactly 1 MB', () => {
      const base = configText();
      const text = base.slice(0, -1) + ' '.repeat(MAX_CONFIG_BYTES - base.length) + '}';
      expect(Buffer.byteLength(text)).toBe(MAX_CONFIG_BYTES);
      expect(parse(text).config.rules).toHaveLength(1);
    });
  });

  describe('duplicate keys', () => {
    it('rejects a duplicate top-level key, which JSON.parse would silently resolve', () => {
      const text =
        '{\n  "fhirPathRules": [],\n  "fhirPathRules": [{"path": "Patient", "method": "keep"}]\n}';
      expect(rejection(text).message).toBe(
        'The anonymization configuration has the key "fhirPathRules" twice in the top-level object ' +
          '(line 3, column 3); each key may appear only once.',
      );
    });

    it('names the rule holding a duplicate key', () => {
      const text =
        '{"fhirPathRules": [\n  {"path": "Patient.id", "method": "keep"},\n' +
        '  {"path": "Patient.name", "method": "keep", "method": "redact"}\n]}';
      expect(rejection(text).message).toBe(
        'The anonymization configuration has the key "method" twice in the object at fhirPathRules[1] ' +
          '(line 3, column 46); each key may appear only once.',
      );
    });

    it('finds duplicates deep inside values and names odd keys in brackets', () => {
      const text = configText({
        parameters: { customSettings: { 'a b': [0, { x: 'DUP' }] } },
      }).replace('"x":"DUP"', '"x":1,"x":2');
      expect(rejection(text).message).toContain(
        'twice in the object at parameters.customSettings["a b"][1] (line 1, column',
      );
    });

    it('compares keys after decoding escapes', () => {
      const text =
        '{"fhirPathRules": [{"path": "Patient", "p\\u0061th": "Patient.id", "method": "keep"}]}';
      expect(rejection(text).message).toContain(
        'has the key "path" twice in the object at fhirPathRules[0]',
      );
    });

    it('does not confuse equal keys in different objects, or keys with string values', () => {
      const text = JSON.stringify({
        fhirVersion: 'R4',
        fhirPathRules: [
          { path: 'Patient.id', method: 'keep' },
          {
            path: 'Patient.name',
            method: 'substitute',
            replaceWith: { path: 'method', method: 'path' },
          },
        ],
      });
      expect(parse(text).config.rules).toHaveLength(2);
    });
  });

  describe('top-level members', () => {
    it('rejects a document that is not an object', () => {
      expect(rejection('[]').message).toBe(
        'The anonymization configuration must be a JSON object, not an array.',
      );
      expect(rejection('"R4"').message).toContain('not a string');
    });

    it('warns about unknown top-level keys and ignores them, as the reference does', () => {
      expect(parse(configText({ comment: 'HIPAA' })).warnings).toEqual([
        'Top-level key "comment" is not part of the configuration and is ignored.',
      ]);
    });

    it.each(['R4', 'r4', ''])('reads fhirVersion %j as R4 without a warning', (fhirVersion) => {
      const parsed = parse(configText({ fhirVersion }));
      expect(parsed.config.fhirVersion).toBe('R4');
      expect(parsed.warnings).toEqual([]);
    });

    it('reads a missing fhirVersion as R4 with a warning', () => {
      const parsed = parse(
        JSON.stringify({ fhirPathRules: [{ path: 'Patient', method: 'keep' }] }),
      );
      expect(parsed.config.fhirVersion).toBe('R4');
      expect(parsed.warnings).toEqual(['fhirVersion is missing; the configuration is read as R4.']);
    });

    it.each(['Stu3', 'R5', 'R4 '])(
      'rejects fhirVersion %j: only R4 is supported',
      (fhirVersion) => {
        expect(rejection(configText({ fhirVersion })).message).toBe(
          `fhirVersion ${JSON.stringify(fhirVersion)} is not supported: this server reads R4 configurations only.`,
        );
      },
    );

    it('rejects a fhirVersion that is not a string', () => {
      expect(rejection(configText({ fhirVersion: 4 })).message).toBe(
        'fhirVersion must be a string such as "R4", not a number.',
      );
    });

    it.each([
      ['raise', 'raise'],
      ['skip', 'skip'],
      ['Skip', 'skip'],
    ] as const)('reads processingErrors %j', (value, expected) => {
      expect(parse(configText({ processingErrors: value })).config.processingErrors).toBe(expected);
    });

    it('rejects processingErrors "keep", a value only the Azure documentation mentions', () => {
      expect(rejection(configText({ processingErrors: 'keep' })).message).toBe(
        'processingErrors must be "raise" or "skip", not "keep".',
      );
    });

    it('reads the misspelt processingError as processingErrors, with a warning', () => {
      const parsed = parse(configText({ processingError: 'skip' }));
      expect(parsed.config.processingErrors).toBe('skip');
      expect(parsed.warnings).toEqual([
        'processingError is read as processingErrors; the reference tool ignores the misspelt key and always raises.',
      ]);
    });

    it('accepts both spellings when they agree', () => {
      const parsed = parse(configText({ processingErrors: 'skip', processingError: 'SKIP' }));
      expect(parsed.config.processingErrors).toBe('skip');
      expect(parsed.warnings).toHaveLength(1);
    });

    it('rejects both spellings when they disagree', () => {
      expect(
        rejection(configText({ processingErrors: 'raise', processingError: 'skip' })).message,
      ).toBe(
        'processingErrors is "raise" but processingError, read as processingErrors, is "skip"; keep only processingErrors.',
      );
    });
  });

  describe('fhirPathRules', () => {
    it.each([
      [undefined, 'fhirPathRules is missing: give at least one rule such as'],
      [null, 'fhirPathRules is missing'],
      [{}, 'fhirPathRules must be an array of rules, not an object.'],
      [[], 'fhirPathRules is empty: give at least one rule.'],
    ])('rejects fhirPathRules %j', (fhirPathRules, message) => {
      expect(rejection(configText({ fhirPathRules })).message).toContain(message);
    });

    it('keeps rules in file order with their index', () => {
      const text = configText({
        fhirPathRules: [
          { path: "nodesByType('Extension')", method: 'redact' },
          { path: 'Resource.id', method: 'cryptoHash' },
        ],
      });
      expect(parse(text).config.rules.map((rule) => [rule.index, rule.path])).toEqual([
        [0, "nodesByType('Extension')"],
        [1, 'Resource.id'],
      ]);
    });

    it.each([
      ['keep', 'keep'],
      ['REDACT', 'redact'],
      ['dateshift', 'dateShift'],
      ['DateShift', 'dateShift'],
      ['cryptohash', 'cryptoHash'],
      ['Encrypt', 'encrypt'],
    ])('reads method %j as %j', (method, expected) => {
      expect(parse(withRule({ path: 'Patient.name', method })).config.rules[1].method).toBe(
        expected,
      );
    });

    it('rejects a rule that is not an object', () => {
      const error = rejection(withRule('Patient.name' as unknown as Record<string, unknown>));
      expect(error.message).toBe(
        'fhirPathRules[1] must be an object with "path" and "method", not a string.',
      );
      expect(error.ruleIndex).toBe(1);
    });

    it.each([
      [
        { method: 'redact' },
        'fhirPathRules[1]: "path" must be a non-empty FHIRPath string, not nothing.',
      ],
      [
        { path: '  ', method: 'redact' },
        'fhirPathRules[1]: "path" must be a non-empty FHIRPath string, not "  ".',
      ],
      [
        { path: 7, method: 'redact' },
        'fhirPathRules[1]: "path" must be a non-empty FHIRPath string, not 7.',
      ],
      [
        { path: 'Patient.name' },
        'fhirPathRules[1] (path "Patient.name"): "method" must be a string such as "redact", not nothing.',
      ],
    ])('rejects rule %j', (rule, message) => {
      const error = rejection(withRule(rule));
      expect(error.message).toBe(message);
      expect(error.ruleIndex).toBe(1);
    });

    it('rejects an unknown method, which the reference only warns about', () => {
      const error = rejection(withRule({ path: 'Patient.name', method: 'mask' }));
      expect(error.message).toBe(
        'fhirPathRules[1] (path "Patient.name"): method "mask" is not supported; use one of ' +
          'keep, redact, dateShift, cryptoHash, encrypt, substitute, perturb, generalize.',
      );
      expect(error.ruleIndex).toBe(1);
    });

    it("rejects a path that does not compile, with the compiler's message", () => {
      const error = rejection(withRule({ path: 'Patient.name((', method: 'redact' }));
      expect(error.message).toBe(
        'fhirPathRules[1] (path "Patient.name(("): the path does not compile: unbalanced parentheses',
      );
      expect(error.ruleIndex).toBe(1);
    });

    it('reports a real fhirpath.js syntax error with the rule index', () => {
      const error = rejection(
        withRule({ path: 'Patient.name.', method: 'redact' }),
        fhirPathChecks,
      );
      expect(error.ruleIndex).toBe(1);
      expect(error.message).toMatch(
        /^fhirPathRules\[1\] \(path "Patient\.name\."\): the path does not compile: line: 1; column: \d+; message: mismatched input '<EOF>'/,
      );
      expect(error.message.length).toBeLessThanOrEqual(300);
    });

    it('shortens a long path in messages', () => {
      const path = 'Patient.name((' + 'x'.repeat(10_000);
      const error = rejection(withRule({ path, method: 'redact' }));
      expect(error.message).toContain('fhirPathRules[1] (path "Patient.name((xxx');
      expect(error.message.length).toBeLessThan(200);
    });

    it('warns about unknown keys and parameters of other methods on a rule', () => {
      const parsed = parse(
        withRule({ path: 'Patient.name', method: 'redact', span: 3, note: 'x' }),
      );
      expect(parsed.config.rules[1]).toEqual({ index: 1, path: 'Patient.name', method: 'redact' });
      expect(parsed.warnings).toEqual([
        'fhirPathRules[1] (path "Patient.name"): "span" is not used by method redact and is ignored.',
        'fhirPathRules[1] (path "Patient.name"): unknown key "note" is ignored.',
      ]);
    });
  });

  describe('substitute', () => {
    it('requires replaceWith', () => {
      const error = rejection(withRule({ path: 'Patient.name', method: 'substitute' }));
      expect(error.message).toBe(
        'fhirPathRules[1] (path "Patient.name"): substitute needs "replaceWith", the value to put in place (null is allowed).',
      );
      expect(error.ruleIndex).toBe(1);
    });

    it.each([null, 'anonymous', { family: 'Doe' }])('accepts replaceWith %j', (replaceWith) => {
      const rule = parse(withRule({ path: 'Patient.name', method: 'substitute', replaceWith }))
        .config.rules[1];
      expect(rule).toHaveProperty('replaceWith', replaceWith);
    });
  });

  describe('perturb', () => {
    const perturb = (params: Record<string, unknown>) =>
      withRule({ path: 'Observation.value', method: 'perturb', ...params });

    it('reads span, rangeType and roundTo', () => {
      const rule = parse(perturb({ span: 0.1, rangeType: 'Proportional', roundTo: 0 })).config
        .rules[1];
      expect(rule).toEqual({
        index: 1,
        path: 'Observation.value',
        method: 'perturb',
        span: 0.1,
        rangeType: 'proportional',
        roundTo: 0,
      });
    });

    it('defaults rangeType to fixed and roundTo to 2', () => {
      const rule = parse(perturb({ span: 0 })).config.rules[1];
      expect([rule.rangeType, rule.roundTo]).toEqual(['fixed', 2]);
    });

    it.each([
      [{}, 'perturb needs "span", a number ≥ 0 giving the width of the noise range.'],
      [{ span: -1 }, '"span" must be a number ≥ 0, not -1.'],
      [{ span: '5' }, '"span" must be a number ≥ 0, not "5".'],
      [
        { span: 1, rangeType: 'relative' },
        '"rangeType" must be "fixed" or "proportional", not "relative".',
      ],
      [{ span: 1, roundTo: 29 }, '"roundTo" must be an integer from 0 to 28, not 29.'],
      [{ span: 1, roundTo: -1 }, '"roundTo" must be an integer from 0 to 28, not -1.'],
      [{ span: 1, roundTo: 1.5 }, '"roundTo" must be an integer from 0 to 28, not 1.5.'],
    ])('rejects the perturb range %j', (params, reason) => {
      const error = rejection(perturb(params));
      expect(error.message).toBe(`fhirPathRules[1] (path "Observation.value"): ${reason}`);
      expect(error.ruleIndex).toBe(1);
    });

    it('rejects a span that overflows to Infinity', () => {
      const text = perturb({ span: 1 }).replace('"span":1', '"span":1e999');
      expect(rejection(text).message).toContain('"span" must be a number ≥ 0, not Infinity.');
    });
  });

  describe('generalize', () => {
    const generalize = (params: Record<string, unknown>) =>
      withRule({
        path: 'Patient.communication.language.coding.code',
        method: 'generalize',
        ...params,
      });
    const at = 'fhirPathRules[1] (path "Patient.communication.language.coding.code")';

    it('reads cases in order and defaults otherValues to redact', () => {
      const cases = { "$this in ('en-AU' | 'en-GB')": "'en'", "$this.startsWith('es')": "'es'" };
      const rule = parse(generalize({ cases })).config.rules[1];
      expect(Object.entries(rule.cases ?? {})).toEqual(Object.entries(cases));
      expect(rule.otherValues).toBe('redact');
    });

    it('reads otherValues keep, in any case', () => {
      expect(
        parse(generalize({ cases: {}, otherValues: 'Keep' })).config.rules[1].otherValues,
      ).toBe('keep');
    });

    it.each([
      [
        {},
        'generalize needs "cases", an object from FHIRPath conditions to FHIRPath expressions, not nothing.',
      ],
      [
        { cases: [] },
        'generalize needs "cases", an object from FHIRPath conditions to FHIRPath expressions, not an array.',
      ],
      [
        { cases: { true: 5 } },
        'case "true" must map to a FHIRPath expression string, not a number.',
      ],
      [
        { cases: { '$this((': "'x'" } },
        'case condition "$this((" does not compile: unbalanced parentheses',
      ],
      [
        { cases: { true: "'x'((" } },
        'case expression "\'x\'((" does not compile: unbalanced parentheses',
      ],
      [{ cases: {}, otherValues: 'null' }, '"otherValues" must be "redact" or "keep", not "null".'],
    ])('rejects %j', (params, reason) => {
      const error = rejection(generalize(params));
      expect(error.message).toBe(`${at}: ${reason}`);
      expect(error.ruleIndex).toBe(1);
    });
  });

  describe('parameters', () => {
    it('reads every parameter', () => {
      const parameters = {
        dateShiftKey: 'dates',
        dateShiftScope: 'Patient',
        dateShiftFixedOffsetInDays: -7,
        cryptoHashKey: 'hashes',
        encryptKey: '0123456789abcdef',
        enablePartialAgesForRedact: true,
        enablePartialDatesForRedact: true,
        enablePartialZipCodesForRedact: false,
        restrictedZipCodeTabulationAreas: ['036', '059'],
      };
      expect(parse(withParameters(parameters))).toEqual({
        config: expect.objectContaining({
          parameters: { ...parameters, dateShiftScope: 'patient' },
        }) as unknown,
        warnings: [],
      });
    });

    it('reads empty keys and nulls as not given', () => {
      const parsed = parse(
        withParameters({
          dateShiftKey: '',
          cryptoHashKey: null,
          encryptKey: '',
          dateShiftScope: null,
          dateShiftFixedOffsetInDays: null,
          enablePartialAgesForRedact: null,
          restrictedZipCodeTabulationAreas: null,
        }),
      ).config.parameters;
      expect(parsed).toEqual({
        dateShiftScope: 'resource',
        enablePartialAgesForRedact: false,
        enablePartialDatesForRedact: false,
        enablePartialZipCodesForRedact: false,
        restrictedZipCodeTabulationAreas: [],
      });
      expect(parsed.dateShiftKey).toBeUndefined();
      expect(parsed.encryptKey).toBeUndefined();
    });

    it.each([16, 24, 32])('accepts an encryptKey of %i bytes', (bytes) => {
      const encryptKey = 'k'.repeat(bytes);
      expect(parse(withParameters({ encryptKey })).config.parameters.encryptKey).toBe(encryptKey);
    });

    it('counts encryptKey in UTF-8 bytes: eight é make a 128-bit key', () => {
      expect(
        parse(withParameters({ encryptKey: 'é'.repeat(8) })).config.parameters.encryptKey,
      ).toBe('é'.repeat(8));
    });

    it('rejects an encryptKey of the wrong length without echoing it', () => {
      const message = rejection(withParameters({ encryptKey: 'secret-key' })).message;
      expect(message).toBe(
        'parameters.encryptKey is 10 bytes in UTF-8; its bytes are the AES key, so it must be 16, 24 or 32 bytes long (128, 192 or 256 bits).',
      );
      expect(message).not.toContain('secret-key');
      expect(rejection(withParameters({ encryptKey: 'é'.repeat(10) })).message).toContain(
        'parameters.encryptKey is 20 bytes in UTF-8',
      );
    });

    it('rejects a key that is not a string without echoing it', () => {
      expect(rejection(withParameters({ cryptoHashKey: 12345 })).message).toBe(
        'parameters.cryptoHashKey must be a string, not a number.',
      );
    });

    it.each(['file', 'folder', 'FILE'])(
      'rejects dateShiftScope %j, which only the command-line tool uses',
      (dateShiftScope) => {
        const message = rejection(withParameters({ dateShiftScope })).message;
        expect(message).toContain(
          `parameters.dateShiftScope "${dateShiftScope.toLowerCase()}" only applies to the reference's command-line tool`,
        );
        expect(message).toContain('Use "resource"');
        expect(message).toContain('or "patient"');
      },
    );

    it('rejects an unknown dateShiftScope', () => {
      expect(rejection(withParameters({ dateShiftScope: 'encounter' })).message).toBe(
        'parameters.dateShiftScope must be "resource" or "patient", not "encounter".',
      );
    });

    it.each([36500, -36500, 0])('accepts dateShiftFixedOffsetInDays %i', (days) => {
      expect(
        parse(withParameters({ dateShiftFixedOffsetInDays: days })).config.parameters
          .dateShiftFixedOffsetInDays,
      ).toBe(days);
    });

    it.each([36501, 1.5, '7'])('rejects dateShiftFixedOffsetInDays %j', (days) => {
      expect(rejection(withParameters({ dateShiftFixedOffsetInDays: days })).message).toMatch(
        /^parameters\.dateShiftFixedOffsetInDays must be a whole number of days from -36500 to 36500, not /,
      );
    });

    it('rejects a partial-redaction switch that is not a boolean', () => {
      expect(rejection(withParameters({ enablePartialDatesForRedact: 'true' })).message).toBe(
        'parameters.enablePartialDatesForRedact must be true or false, not "true".',
      );
    });

    it.each([
      ['036', undefined],
      [
        36,
        'parameters.restrictedZipCodeTabulationAreas[1] must be a 3-digit zip code prefix such as "036", not 36.',
      ],
      [
        '0360',
        'parameters.restrictedZipCodeTabulationAreas[1] must be a 3-digit zip code prefix such as "036", not "0360".',
      ],
    ])('checks restricted zip area %j', (area, message) => {
      const text = withParameters({ restrictedZipCodeTabulationAreas: ['059', area] });
      if (message === undefined) {
        expect(parse(text).config.parameters.restrictedZipCodeTabulationAreas).toEqual([
          '059',
          '036',
        ]);
      } else {
        expect(rejection(text).message).toBe(message);
      }
    });

    it('rejects parameters that are not an object', () => {
      expect(rejection(withParameters([])).message).toBe(
        'parameters must be an object, not an array.',
      );
    });

    it('warns about customSettings and unknown parameters, and ignores them', () => {
      expect(parse(withParameters({ customSettings: {}, salt: 'x' })).warnings).toEqual([
        'parameters.customSettings is ignored: this server has no custom processors.',
        'Unknown parameter "salt" is ignored.',
      ]);
    });
  });

  describe('the reference configurations, compiled with fhirpath.js', () => {
    it('reads the HIPAA Safe Harbor sample without errors or warnings', () => {
      const text = readFileSync(join(REPO, 'config/anonymization/safe-harbor.json'));
      const { config, warnings } = parse(text, fhirPathChecks);
      expect(warnings).toEqual([]);
      expect(config.rules).toHaveLength(193);
      expect(config.rules.filter((rule) => rule.method === 'dateShift')).toHaveLength(3);
      expect(config.rules.find((rule) => rule.method === 'perturb')).toEqual({
        index: 59,
        path: 'FamilyMemberHistory.condition.onset as Age',
        method: 'perturb',
        span: 0.1,
        rangeType: 'proportional',
        roundTo: 0,
      });
      expect(config.parameters).toEqual({
        dateShiftScope: 'resource',
        enablePartialAgesForRedact: true,
        enablePartialDatesForRedact: true,
        enablePartialZipCodesForRedact: true,
        restrictedZipCodeTabulationAreas: [
          '036',
          '059',
          '102',
          '203',
          '205',
          '369',
          '556',
          '692',
          '821',
          '823',
          '878',
          '879',
          '884',
          '893',
        ],
      });
    });

    it('reads the functional tests common-config without errors or warnings', () => {
      const text = readFileSync(join(REPO, 'test/fixtures/anonymization/common-config.json'));
      const { config, warnings } = parse(text, fhirPathChecks);
      expect(warnings).toEqual([]);
      expect(config.fhirVersion).toBe('R4');
      expect(config.rules).toHaveLength(19);
      expect(config.rules[3].path).toBe("Patient.nodesByType('Address').where(city='KeepTest')");
      expect(config.parameters).toMatchObject({ dateShiftKey: '123', cryptoHashKey: '123' });
      expect(config.parameters.encryptKey).toBeUndefined();
    });
  });
});
