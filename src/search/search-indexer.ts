import { compile } from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import { Injectable } from '@nestjs/common';
import { SearchParameterDefinition } from '../fhir/fhir-definitions.service';
import { splitUnion } from '../fhir/fhirpath-union';
import { IndexTable, SearchIndexBatch } from './search-index-batch';
import { IndexedParamType, SearchParameters, SupportedSearchParameter } from './search-parameters';
import {
  dateRange,
  DateRange,
  normalizeString,
  parseReference,
  periodRange,
} from './search-values';

interface Branch {
  evaluate: (resource: unknown) => unknown[];
  /** First element below the resource; the branch is skipped when the resource lacks it. */
  rootKey?: string;
  rootIsChoice: boolean;
  /** From `.where(resolve() is X)`: only references to X count. */
  targetType?: string;
}

interface CompiledParameter extends SupportedSearchParameter {
  branches: Branch[];
}

interface ResourceNodeLike {
  data: unknown;
  fhirNodeDataType: string | null;
}

const RESOLVE_IS = /\.where\(\s*resolve\(\)\s+is\s+([A-Za-z]+)\s*\)/g;
const ROOT_STEP = /^\(*\s*([A-Z][A-Za-z]*)\.([a-z][A-Za-z0-9]*)/;
const MAX_INDEXED = 800;
const MAX_TEXT = 2000;

const QUANTITY_TYPES = new Set([
  'Quantity',
  'Age',
  'Count',
  'Distance',
  'Duration',
  'SimpleQuantity',
  'MoneyQuantity',
]);

function clip(value: string, max = MAX_INDEXED): string {
  return value.length > max ? value.slice(0, max) : value;
}

function isNode(value: unknown): value is ResourceNodeLike {
  return typeof value === 'object' && value !== null && 'fhirNodeDataType' in value;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Extracts search index rows from resources using the R4 SearchParameter definitions. Each
 * expression is compiled once per (type, parameter) with fhirpath.js and the R4 model, on the
 * first resource of that type; evaluation keeps fhirpath's node types so a `date` parameter
 * knows a Period from a dateTime and a `token` one a CodeableConcept from an Identifier.
 */
@Injectable()
export class SearchIndexer {
  private readonly compiled = new Map<string, readonly CompiledParameter[]>();

  constructor(private readonly parameters: SearchParameters) {}

  /** Adds the index rows of one stored version to `batch`. */
  extract(
    resource: { resourceType: string; [element: string]: unknown },
    seq: string,
    batch: SearchIndexBatch,
  ): void {
    const type = resource.resourceType;
    const seen = new Set<string>();
    const data: Record<string, unknown> = resource;
    for (const param of this.parametersOf(type)) {
      for (const branch of param.branches) {
        if (branch.rootKey !== undefined && !hasRoot(data, branch.rootKey, branch.rootIsChoice)) {
          continue;
        }
        let results: unknown[];
        try {
          results = branch.evaluate(resource);
        } catch {
          // Data the expression cannot evaluate (odd shapes, unexpected types) is not searchable
          // by this parameter; it must not fail the write.
          continue;
        }
        for (const result of results) {
          const node = isNode(result)
            ? { data: result.data, dataType: result.fhirNodeDataType }
            : { data: result, dataType: null };
          addRows(param, branch, node.data, node.dataType, { seq, type, batch, seen });
        }
      }
    }
  }

  private parametersOf(type: string): readonly CompiledParameter[] {
    let params = this.compiled.get(type);
    if (!params) {
      params = this.parameters.indexed(type).map((p) => compileParameter(type, p));
      this.compiled.set(type, params);
    }
    return params;
  }
}

function compileParameter(type: string, p: SearchParameterDefinition): CompiledParameter {
  const branches: Branch[] = [];
  for (const raw of splitUnion(p.expression ?? '')) {
    let targetType: string | undefined;
    const expression = raw.replace(RESOLVE_IS, (_m, target: string) => {
      targetType = target;
      return '';
    });
    // resolve() needs the referenced resource; only the `is Type` filter above is understood.
    if (expression.includes('resolve(')) continue;
    const root = ROOT_STEP.exec(expression);
    const rootKey = root && isResourceRoot(root[1], type) ? root[2] : undefined;
    branches.push({
      evaluate: compile(expression, r4Model, { resolveInternalTypes: false }) as (
        resource: unknown,
      ) => unknown[],
      rootKey,
      rootIsChoice:
        rootKey !== undefined &&
        (r4Model.choiceTypePaths[`${type}.${rootKey}`] !== undefined ||
          r4Model.choiceTypePaths[`${root![1]}.${rootKey}`] !== undefined),
      targetType,
    });
  }
  return {
    code: p.code,
    type: p.type as IndexedParamType,
    url: p.url,
    ...(p.target ? { target: p.target } : {}),
    branches,
  };
}

function isResourceRoot(root: string, type: string): boolean {
  return root === type || root === 'Resource' || root === 'DomainResource';
}

function hasRoot(resource: Record<string, unknown>, key: string, choice: boolean): boolean {
  if (!choice) return resource[key] !== undefined;
  for (const name in resource) {
    if (name.length > key.length && name.startsWith(key) && /[A-Z]/.test(name[key.length])) {
      return true;
    }
  }
  return false;
}

interface Target {
  seq: string;
  type: string;
  batch: SearchIndexBatch;
  /** Row keys already written for this resource, so union branches do not duplicate rows. */
  seen: Set<string>;
}

function emit<T extends IndexTable>(
  target: Target,
  table: T,
  param: string,
  values: Record<string, unknown>,
): void {
  const key = `${table}\u0000${param}\u0000${JSON.stringify(values)}`;
  if (target.seen.has(key)) return;
  target.seen.add(key);
  target.batch.add(table, { seq: target.seq, type: target.type, param, ...values } as never);
}

function addRows(
  param: CompiledParameter,
  branch: Branch,
  data: unknown,
  dataType: string | null,
  target: Target,
): void {
  switch (param.type) {
    case 'token':
      return addTokens(param.code, data, dataType, target);
    case 'string':
      return addStrings(param.code, data, dataType, target);
    case 'date':
      return addDate(param.code, data, dataType, target);
    case 'reference':
      return addReference(param.code, branch, data, target);
    case 'quantity':
      return addQuantity(param.code, data, dataType, target);
    case 'number': {
      // fhirpath wraps decimals as FP_Decimal, keeping the literal text in `asStr`.
      const text = typeof data === 'number' ? String(data) : str(record(data)?.asStr);
      if (text !== undefined && Number.isFinite(Number(text))) {
        emit(target, 'number', param.code, { value: text });
      }
      return;
    }
    case 'uri':
      if (str(data)) emit(target, 'uri', param.code, { value: clip(data as string, 1500) });
      return;
  }
}

function token(
  target: Target,
  param: string,
  system: unknown,
  code: unknown,
  text?: unknown,
): void {
  const c = str(code);
  const t = str(text);
  if (c === undefined && t === undefined) return;
  emit(target, 'token', param, {
    system: str(system) === undefined ? null : clip(system as string),
    code: c === undefined ? null : clip(c),
    text: t === undefined ? null : clip(normalizeString(t), MAX_TEXT),
  });
}

function addTokens(param: string, data: unknown, dataType: string | null, target: Target): void {
  if (typeof data === 'boolean') return token(target, param, undefined, String(data));
  if (typeof data === 'string') return token(target, param, undefined, data);
  const value = record(data);
  if (!value) return;
  const kind: string = dataType ?? inferTokenType(value) ?? '';
  switch (kind) {
    case 'CodeableConcept':
      for (const coding of Array.isArray(value.coding) ? value.coding : []) {
        const c = record(coding);
        if (c) token(target, param, c.system, c.code, c.display);
      }
      if (str(value.text)) token(target, param, undefined, undefined, value.text);
      return;
    case 'Coding':
      return token(target, param, value.system, value.code, value.display);
    case 'Identifier':
      return token(target, param, value.system, value.value, record(value.type)?.text);
    case 'ContactPoint':
      return token(target, param, value.system, value.value);
    default:
      return;
  }
}

function inferTokenType(value: Record<string, unknown>): string | undefined {
  if (Array.isArray(value.coding) || value.text !== undefined) return 'CodeableConcept';
  if (value.code !== undefined) return 'Coding';
  if (value.value !== undefined) return 'Identifier';
  return undefined;
}

const NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

function addStrings(param: string, data: unknown, dataType: string | null, target: Target): void {
  const addOne = (value: unknown): void => {
    if (typeof value !== 'string' || value === '') return;
    const norm = normalizeString(value);
    emit(target, 'string', param, { value: clip(value, MAX_TEXT), norm: clip(norm) });
  };
  if (typeof data === 'string') return addOne(data);
  const value = record(data);
  if (!value) return;
  const parts =
    dataType === 'HumanName' ? NAME_PARTS : dataType === 'Address' ? ADDRESS_PARTS : undefined;
  for (const part of parts ?? []) {
    const v = value[part];
    for (const item of Array.isArray(v) ? v : [v]) addOne(item);
  }
}

function addDate(param: string, data: unknown, dataType: string | null, target: Target): void {
  const add = (range: DateRange | undefined): void => {
    if (range) emit(target, 'date', param, { low: range.low, high: range.high });
  };
  if (typeof data === 'string') return add(dateRange(data));
  const value = record(data);
  if (!value) return;
  if (dataType === 'Timing') {
    for (const event of Array.isArray(value.event) ? value.event : []) {
      if (typeof event === 'string') add(dateRange(event));
    }
    const bounds = record(record(value.repeat)?.boundsPeriod);
    if (bounds) add(periodRange(bounds));
    return;
  }
  if (dataType === 'Period' || value.start !== undefined || value.end !== undefined) {
    add(periodRange(value));
  }
}

function addReference(param: string, branch: Branch, data: unknown, target: Target): void {
  // canonical and uri targets (e.g. `instantiates-canonical`) are matched by URL.
  const reference = typeof data === 'string' ? data : str(record(data)?.reference);
  if (reference === undefined) return;
  const parsed = parseReference(reference);
  if (!parsed) return;
  if (branch.targetType !== undefined && parsed.targetType !== branch.targetType) return;
  emit(target, 'reference', param, {
    target_type: parsed.targetType ?? null,
    target_id: parsed.targetId ?? null,
    url: parsed.url ? clip(parsed.url, MAX_TEXT) : null,
  });
}

function addQuantity(param: string, data: unknown, dataType: string | null, target: Target): void {
  const value = record(data);
  if (!value || typeof value.value !== 'number' || !Number.isFinite(value.value)) return;
  if (dataType === 'Money') {
    emit(target, 'quantity', param, {
      value: String(value.value),
      system: 'urn:iso:std:iso:4217',
      code: str(value.currency) ?? null,
      unit: null,
    });
    return;
  }
  if (dataType !== null && !QUANTITY_TYPES.has(dataType)) return;
  emit(target, 'quantity', param, {
    value: String(value.value),
    system: str(value.system) ?? null,
    code: str(value.code) ?? null,
    unit: str(value.unit) ?? null,
  });
}
