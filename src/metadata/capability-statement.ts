/** The parts of an R4 CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html) this server fills. */
export interface CapabilityStatement {
  resourceType: 'CapabilityStatement';
  status: 'draft' | 'active' | 'retired' | 'unknown';
  date: string;
  kind: 'instance' | 'capability' | 'requirements';
  instantiates?: string[];
  software: { name: string; version?: string };
  implementation: { description: string; url?: string };
  fhirVersion: string;
  format: string[];
  rest: CapabilityRest[];
  [element: string]: unknown;
}

export interface CapabilityInteraction {
  code: string;
  documentation?: string;
}

export interface CapabilityOperation {
  name: string;
  definition: string;
  documentation?: string;
}

export interface CapabilitySearchParam {
  name: string;
  type: string;
  definition?: string;
  documentation?: string;
}

export interface CapabilityRestResource {
  type: string;
  profile?: string;
  interaction: CapabilityInteraction[];
  versioning?: 'no-version' | 'versioned' | 'versioned-update';
  readHistory?: boolean;
  updateCreate?: boolean;
  conditionalCreate?: boolean;
  conditionalRead?: 'not-supported' | 'modified-since' | 'not-match' | 'full-support';
  conditionalUpdate?: boolean;
  conditionalDelete?: 'not-supported' | 'single' | 'multiple';
  searchParam?: CapabilitySearchParam[];
  operation?: CapabilityOperation[];
  [element: string]: unknown;
}

export interface CapabilityRest {
  mode: 'server';
  documentation?: string;
  security?: Record<string, unknown>;
  resource: CapabilityRestResource[];
  interaction: CapabilityInteraction[];
  operation: CapabilityOperation[];
  [element: string]: unknown;
}

/** What a contributor may need to know about the request the statement answers. */
export interface CapabilityContext {
  /** Service base URL without trailing slash. */
  baseUrl: string;
}

/**
 * A module that adds what it implements to the CapabilityStatement, e.g. the resource store
 * its interactions, bulk export `instantiates` and its operations. Register it with
 * `CapabilityStatementService.register` (typically in the constructor or `onModuleInit`).
 * Contributors run on every `/metadata` request, in registration order, and mutate the
 * statement in place; use {@link restResource} so order between contributors does not matter.
 */
export interface CapabilityContributor {
  contribute(statement: CapabilityStatement, context: CapabilityContext): void;
}

/** The server's `rest` entry (mode `server`). */
export function serverRest(statement: CapabilityStatement): CapabilityRest {
  return statement.rest[0];
}

/** The `rest.resource` entry of `type`, created empty if no contributor has added it yet. */
export function restResource(statement: CapabilityStatement, type: string): CapabilityRestResource {
  const rest = serverRest(statement);
  let entry = rest.resource.find((r) => r.type === type);
  if (!entry) {
    entry = { type, interaction: [] };
    rest.resource.push(entry);
  }
  return entry;
}

/** Adds interaction codes to a list, skipping ones already present. */
export function addInteractions(list: CapabilityInteraction[], codes: readonly string[]): void {
  for (const code of codes) {
    if (!list.some((i) => i.code === code)) list.push({ code });
  }
}
