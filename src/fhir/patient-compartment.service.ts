import { Injectable } from '@nestjs/common';
import { compile } from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import { FhirDefinitions } from './fhir-definitions.service';
import { splitUnion } from './fhirpath-union';
import { parseLocalReference } from './local-reference';

/** A resource as the store holds it: plain FHIR JSON. */
export interface FhirResourceLike {
  resourceType: string;
  id?: string;
  [key: string]: unknown;
}

/** Adds the id of every Patient that `resource` references through one compartment parameter. */
type PatientIdCollector = (resource: FhirResourceLike, ids: Set<string>) => void;

const RESOLVE_IS = /\.where\(\s*resolve\(\)\s+is\s+([A-Za-z]+)\s*\)/g;
const SIMPLE_PATH = /^[A-Z][A-Za-z]*(?:\.[a-z][A-Za-z0-9]*)+$/;

/**
 * Membership of the Patient compartment (FHIR R4 CompartmentDefinition/patient), computed on
 * every write so Patient- and Group-level `$export` can select by patient id.
 */
@Injectable()
export class PatientCompartment {
  readonly compartmentTypes: readonly string[];
  private readonly collectors: ReadonlyMap<string, readonly PatientIdCollector[]>;

  constructor(definitions: FhirDefinitions) {
    const collectors = new Map<string, PatientIdCollector[]>();
    for (const { resourceType, params } of definitions.patientCompartment) {
      const list: PatientIdCollector[] = [];
      for (const code of params) {
        const expression = definitions.searchParameter(resourceType, code)?.expression;
        if (!expression) {
          throw new Error(`Patient compartment: ${resourceType} has no search parameter ${code}`);
        }
        list.push(...compilePatientReferencePaths(expression));
      }
      collectors.set(resourceType, list);
    }
    if (!collectors.has('Patient')) {
      collectors.set('Patient', []);
    }
    this.collectors = collectors;
    this.compartmentTypes = Object.freeze([...collectors.keys()].sort());
  }

  isCompartmentType(type: string): boolean {
    return this.collectors.has(type);
  }

  /** Ids (not `Patient/<id>`) of every Patient whose compartment holds `resource`; sorted, unique. */
  patientIdsOf(resource: FhirResourceLike): string[] {
    const collectors = this.collectors.get(resource.resourceType);
    if (!collectors) {
      return [];
    }
    const ids = new Set<string>();
    if (resource.resourceType === 'Patient' && typeof resource.id === 'string' && resource.id) {
      ids.add(resource.id);
    }
    for (const collect of collectors) {
      collect(resource, ids);
    }
    return ids.size === 0 ? [] : [...ids].sort();
  }
}

/**
 * Turns a reference search parameter's FHIRPath into collectors run once per write. Plain
 * element paths (every Patient compartment parameter of R4) become direct JSON walks; any
 * other branch, e.g. with `as`/`ofType` casts, is compiled once with fhirpath.js and the R4
 * model. `.where(resolve() is Patient)` is dropped since only Patient references count anyway,
 * and a branch filtered to any other type is dropped whole: resolve() has no resolver here.
 */
export function compilePatientReferencePaths(expression: string): PatientIdCollector[] {
  const collectors: PatientIdCollector[] = [];
  for (const branch of splitUnion(expression)) {
    let targetsOtherType = false;
    const stripped = branch.replace(RESOLVE_IS, (_match, type: string) => {
      targetsOtherType ||= type !== 'Patient';
      return '';
    });
    if (targetsOtherType) {
      continue;
    }
    if (stripped.includes('resolve(')) {
      throw new Error(`Unsupported resolve() in compartment expression: ${branch}`);
    }
    const path = SIMPLE_PATH.test(stripped) ? elementPath(stripped) : undefined;
    collectors.push(path ? walkCollector(path) : fhirPathCollector(stripped));
  }
  return collectors;
}

/** Property names after the resource type, or undefined when a step is a choice element. */
function elementPath(expression: string): string[] | undefined {
  const [type, ...steps] = expression.split('.');
  let modelPath = type;
  for (const step of steps) {
    modelPath = `${modelPath}.${step}`;
    modelPath = r4Model.pathsDefinedElsewhere[modelPath] ?? modelPath;
    if (r4Model.choiceTypePaths[modelPath]) {
      return undefined;
    }
  }
  return steps;
}

function walkCollector(path: readonly string[]): PatientIdCollector {
  return (resource, ids) => collectAlong(resource, path, 0, ids);
}

function collectAlong(
  node: unknown,
  path: readonly string[],
  step: number,
  ids: Set<string>,
): void {
  if (Array.isArray(node)) {
    for (const item of node) {
      collectAlong(item, path, step, ids);
    }
  } else if (typeof node === 'object' && node !== null) {
    if (step === path.length) {
      addPatientId(node, ids);
    } else {
      collectAlong((node as Record<string, unknown>)[path[step]], path, step + 1, ids);
    }
  }
}

function fhirPathCollector(expression: string): PatientIdCollector {
  const evaluate = compile(expression, r4Model);
  return (resource, ids) => {
    for (const node of evaluate(resource) as unknown[]) {
      if (typeof node === 'object' && node !== null) {
        addPatientId(node, ids);
      }
    }
  };
}

function addPatientId(reference: object, ids: Set<string>): void {
  const value = (reference as { reference?: unknown }).reference;
  if (typeof value === 'string') {
    const target = parseLocalReference(value);
    if (target?.type === 'Patient') ids.add(target.id);
  }
}
