import { Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompartmentResourceDefinition,
  R4Definitions,
  SearchParameterDefinition,
} from './r4-definitions';

export type { CompartmentResourceDefinition, SearchParameterDefinition } from './r4-definitions';

/** Extracted from the R4 specification by `npm run definitions`; copied beside the compiled code. */
export const R4_DEFINITIONS_FILE = join(__dirname, 'r4-definitions.json');

interface LoadedDefinitions {
  resourceTypes: readonly string[];
  searchParameters: ReadonlyMap<string, readonly SearchParameterDefinition[]>;
  patientCompartment: readonly CompartmentResourceDefinition[];
  topLevelElements: ReadonlyMap<string, TopLevelElements>;
}

/** The top-level elements of one resource type, from its StructureDefinition snapshot. */
interface TopLevelElements {
  /** Names with min >= 1; a choice element as `value[x]`. */
  mandatory: readonly string[];
  /** Choice element names without `[x]`, e.g. `value` for `value[x]`. */
  choices: ReadonlySet<string>;
}

let loaded: LoadedDefinitions | undefined;

/**
 * FHIR R4 resource types, search parameters and the Patient compartment, from the tables
 * `r4-definitions.ts` extracts out of HL7's R4 bundles; read once per process.
 */
@Injectable()
export class FhirDefinitions {
  readonly resourceTypes: readonly string[];
  /** HL7's R4 Patient CompartmentDefinition (see `extractR4Definitions`). */
  readonly patientCompartment: readonly CompartmentResourceDefinition[];
  private readonly resourceTypeSet: ReadonlySet<string>;
  private readonly searchParametersByType: ReadonlyMap<
    string,
    readonly SearchParameterDefinition[]
  >;
  private readonly topLevelElements: ReadonlyMap<string, TopLevelElements>;

  constructor() {
    loaded ??= loadDefinitions();
    this.resourceTypes = loaded.resourceTypes;
    this.resourceTypeSet = new Set(loaded.resourceTypes);
    this.searchParametersByType = loaded.searchParameters;
    this.patientCompartment = loaded.patientCompartment;
    this.topLevelElements = loaded.topLevelElements;
  }

  /**
   * Top-level elements of `type` that its R4 StructureDefinition makes mandatory (min >= 1),
   * a choice element written `value[x]`; sorted. Empty for an unknown type.
   */
  mandatoryElements(type: string): readonly string[] {
    return this.topLevelElements.get(type)?.mandatory ?? [];
  }

  /** Whether `name` (without `[x]`) is a top-level choice element of `type`, e.g. Observation `value`. */
  isChoiceElement(type: string, name: string): boolean {
    return this.topLevelElements.get(type)?.choices.has(name) ?? false;
  }

  isResourceType(name: string): boolean {
    return this.resourceTypeSet.has(name);
  }

  /** Search parameters of `type`, including those defined on Resource and DomainResource; sorted by code. */
  searchParameters(type: string): readonly SearchParameterDefinition[] {
    return this.searchParametersByType.get(type) ?? [];
  }

  searchParameter(type: string, code: string): SearchParameterDefinition | undefined {
    return this.searchParameters(type).find((p) => p.code === code);
  }
}

function loadDefinitions(): LoadedDefinitions {
  const file = JSON.parse(readFileSync(R4_DEFINITIONS_FILE, 'utf8')) as R4Definitions;
  return {
    resourceTypes: Object.freeze(file.resourceTypes.map((t) => t.type)),
    searchParameters: new Map(
      Object.entries(file.searchParameters).map(([type, list]) => [
        type,
        Object.freeze(list.map((p) => Object.freeze(p))),
      ]),
    ),
    patientCompartment: Object.freeze(
      file.patientCompartment.map((r) => Object.freeze({ ...r, params: Object.freeze(r.params) })),
    ),
    topLevelElements: new Map(
      file.resourceTypes.map((t) => [
        t.type,
        { mandatory: Object.freeze(t.mandatory), choices: new Set(t.choices) },
      ]),
    ),
  };
}
