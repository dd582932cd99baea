import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { json } from 'express';
import { ACCEPTED_JSON_BODY_TYPES } from './fhir-content-types';
import { FhirErrorCode, FhirException } from './fhir-exception';
import { FhirIssue, FhirIssuesException } from './fhir-issues';

interface BodyParserError {
  type?: string;
  message?: string;
  limit?: number;
}

/** Deepest nesting of JSON objects and arrays a request body may have. */
export const MAX_BODY_DEPTH = 100;
/** At most this many problems of one body are reported. */
const MAX_BODY_PROBLEMS = 100;

/** A problem the raw-text scan found, at a path relative to the body (e.g. `entry[3].resource`). */
export interface BodyProblem {
  path: string;
  diagnostics: string;
}

/** Turns body-parser's errors into FhirExceptions with a message a client can act on. */
export function bodyError(error: BodyParserError): FhirException {
  if (error instanceof FhirException) return error;
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

/**
 * JSON body parsing for application/fhir+json and application/json, errors as OperationOutcomes.
 * Before parsing, one pass over the raw text refuses nesting deeper than {@link MAX_BODY_DEPTH}
 * (so nothing downstream recurses without bound) and finds what JSON.parse would silently
 * change: NUL characters, which PostgreSQL cannot store, and numbers a double cannot hold
 * (`1e400` becomes Infinity, then null; `12345678901234567890` loses digits). Those are
 * refused with 400 once the body parsed, each with its path.
 */
export function fhirJsonBody(limit: string): RequestHandler {
  const found = new WeakMap<Request, BodyProblem[]>();
  const otherCharset = new WeakMap<Request, string>();
  const parse = json({
    type: ACCEPTED_JSON_BODY_TYPES,
    limit,
    strict: true,
    verify: (req: Request, _res: Response, buffer: Buffer, encoding: string) => {
      // FHIR JSON is UTF-8 (R4 json.html); the scan reads the raw bytes as such, and a body in
      // another charset would pass unscanned.
      if (encoding !== 'utf-8' && encoding !== 'utf8') {
        otherCharset.set(req, encoding);
        return;
      }
      const problems = scanJson(buffer, MAX_BODY_DEPTH);
      if (problems.length > 0) found.set(req, problems);
    },
  });
  return (req: Request, res: Response, next: NextFunction) => {
    parse(req, res, (error?: BodyParserError) => {
      if (error) return next(bodyError(error));
      const charset = otherCharset.get(req);
      if (charset) {
        return next(
          new FhirException(
            FhirErrorCode.UnsupportedMediaType,
            `charset ${charset} is not supported: FHIR JSON is UTF-8`,
          ),
        );
      }
      const problems = found.get(req);
      if (problems) return next(bodyProblems(problems, req.body));
      next();
    });
  };
}

function bodyProblems(problems: BodyProblem[], body: unknown): FhirException {
  const type = (body as { resourceType?: unknown } | undefined)?.resourceType;
  const root = typeof type === 'string' && /^[A-Za-z]{1,64}$/.test(type) ? type : '$';
  const issues: FhirIssue[] = problems.map(({ path, diagnostics }) => ({
    code: 'value',
    expression: expressionOf(root, path),
    diagnostics,
  }));
  return new FhirIssuesException(FhirErrorCode.BadRequest, issues);
}

function expressionOf(root: string, path: string): string {
  return path === '' || path.startsWith('[') ? `${root}${path}` : `${root}.${path}`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_U = 0x75;

interface Frame {
  array: boolean;
  index: number;
  /** The current key of an object, as raw JSON text offsets; -1 before the first. */
  keyStart: number;
  keyEnd: number;
  expectKey: boolean;
}

/**
 * One pass over JSON text, tracking where it is: throws a 400 FhirException at nesting deeper
 * than `maxDepth`, and returns the NUL characters and inexact numbers it finds. Text that is
 * not valid JSON yields whatever it yields; JSON.parse reports it afterwards.
 */
export function scanJson(text: Buffer, maxDepth: number): BodyProblem[] {
  const problems: BodyProblem[] = [];
  const stack: Frame[] = [];
  const add = (diagnostics: string) => {
    if (problems.length < MAX_BODY_PROBLEMS)
      problems.push({ path: pathOf(stack, text), diagnostics });
  };
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text[i];
    if (c === QUOTE) {
      const start = i++;
      let nul = false;
      while (i < n && text[i] !== QUOTE) {
        if (text[i] === BACKSLASH) {
          if (text[i + 1] === LOWER_U && isNulEscape(text, i + 2)) nul = true;
          i += 2;
        } else {
          i++;
        }
      }
      i++;
      const top = stack[stack.length - 1];
      const isKey = top !== undefined && !top.array && top.expectKey;
      if (isKey) {
        top.keyStart = start;
        top.keyEnd = i;
      }
      if (nul)
        add(`${isKey ? 'the element name' : 'the string'} contains a NUL character (\\u0000)`);
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      const start = i++;
      while (i < n && isNumberByte(text[i])) i++;
      const problem = numberProblem(text.toString('latin1', start, i));
      if (problem) add(problem);
    } else {
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (stack.length >= maxDepth) {
          throw new FhirIssuesException(FhirErrorCode.BadRequest, [
            {
              code: 'structure',
              expression: expressionOf('$', pathOf(stack, text)),
              diagnostics: `the body is nested deeper than ${maxDepth} levels of objects and arrays`,
            },
          ]);
        }
        stack.push({
          array: c === OPEN_ARRAY,
          index: 0,
          keyStart: -1,
          keyEnd: -1,
          expectKey: true,
        });
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        stack.pop();
      } else if (c === COMMA) {
        const top = stack[stack.length - 1];
        if (top?.array) top.index++;
        else if (top) top.expectKey = true;
      } else if (c === COLON) {
        const top = stack[stack.length - 1];
        if (top) top.expectKey = false;
      }
      i++;
    }
  }
  return problems;
}

function isNulEscape(text: Buffer, at: number): boolean {
  return (
    text[at] === ZERO && text[at + 1] === ZERO && text[at + 2] === ZERO && text[at + 3] === ZERO
  );
}

function isNumberByte(c: number): boolean {
  // digits . e E + -
  return (
    (c >= ZERO && c <= NINE) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === MINUS
  );
}

/** Why a JSON number literal cannot be kept exactly once parsed to a double, if it cannot. */
export function numberProblem(literal: string): string | undefined {
  const value = Number(literal);
  if (Number.isNaN(value)) return undefined;
  if (!Number.isFinite(value)) {
    return `the number ${truncate(literal)} is beyond the range that can be stored exactly`;
  }
  if (significantDigits(literal) !== significantDigits(String(value))) {
    return `the number ${truncate(literal)} cannot be stored exactly: it would become ${value}`;
  }
  return undefined;
}

/** The digits of a number without sign, point, exponent and leading or trailing zeros. */
function significantDigits(literal: string): string {
  const match = /^-?(\d*)(?:\.(\d*))?(?:[eE][+-]?\d+)?$/.exec(literal);
  if (!match) return literal;
  return `${match[1]}${match[2] ?? ''}`.replace(/^0+/, '').replace(/0+$/, '') || '0';
}

function pathOf(stack: readonly Frame[], text: Buffer): string {
  let path = '';
  for (const frame of stack) {
    if (frame.array) path += `[${frame.index}]`;
    else if (frame.keyStart >= 0) path += `${path === '' ? '' : '.'}${keyOf(text, frame)}`;
  }
  return path;
}

/** Longest key text a path repeats: a path is copied into each problem reported. */
const MAX_KEY_BYTES = 64;

function keyOf(text: Buffer, frame: Frame): string {
  if (frame.keyEnd - frame.keyStart > MAX_KEY_BYTES + 2) {
    return `${text.toString('utf8', frame.keyStart + 1, frame.keyStart + 1 + MAX_KEY_BYTES)}…`;
  }
  const raw = text.toString('utf8', frame.keyStart, frame.keyEnd);
  try {
    return String(JSON.parse(raw)).split('\u0000').join('\\u0000');
  } catch {
    return raw;
  }
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
