import { containsUnstorableText, isUnstorableText } from '../../common/control-characters';
import { FhirException } from '../../common/fhir-exception';
import { FHIR_ID } from '../../common/fhir-request';
import { canonicalTypeFilters, ExportLevel, ExportRequest, TypeFilter } from '../export-request';
import { isDefaultContainerName, isValidContainerName } from '../storage/export-sink';
import { formatInstant, parseFhirInstant } from './fhir-instant';
import { parseTypeFilter, splitTypeFilters } from './type-filter';

/** What parameter validation needs to know about resource types; `FhirDefinitions` provides it. */
export interface ResourceTypeCatalog {
  isResourceType(name: string): boolean;
}

export interface ExportParametersContext {
  level: ExportLevel;
  /** Required at group level: the `{id}` of `Group/{id}/$export`. */
  groupId?: string;
  /** From `Prefer: handling=lenient` (see `parseExportHeaders`). */
  lenient: boolean;
  knownTypes: ResourceTypeCatalog;
  /** The clock `_since` and `_until` must not pass; tests fix it. */
  now?: Date;
}

/** Express `req.query` under the default ("simple") query parser. */
export type ExportQuery = Record<string, unknown>;

interface Occurrence {
  /** `query` for GET; the `value[x]` element name for POST. */
  source: string;
  value: unknown;
}

type Form = 'GET' | 'POST';

const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const ASSOCIATED_DATA = new Set(['LatestProvenanceResources', 'RelevantProvenanceResources']);
const ELEMENT = /^[a-z][A-Za-z0-9]*$/;
const TYPED_ELEMENT = /^([A-Z][A-Za-z]+)\.([a-z][A-Za-z0-9]*)$/;

const SINGLE_VALUED = [
  '_outputFormat',
  '_since',
  '_until',
  '_till',
  '_container',
  '_anonymizationConfig',
  '_anonymizationConfigEtag',
];
const KNOWN_PARAMETERS = new Set([
  ...SINGLE_VALUED,
  '_type',
  '_typeFilter',
  '_elements',
  'patient',
  'includeAssociatedData',
]);
/** Defined by the IG or by Azure, but not implemented here. */
const UNSUPPORTED_PARAMETERS = new Set([
  'organizeOutputBy',
  'allowPartialManifests',
  '_anonymizationConfigCollectionReference',
  '_isParallel',
]);

const POST_VALUE_TYPES = new Set([
  'valueString',
  'valueCode',
  'valueInstant',
  'valueDateTime',
  'valueBoolean',
  'valueReference',
]);
const STRING_VALUES = ['valueString'];
const CODE_VALUES = ['valueCode', 'valueString'];
const INSTANT_VALUES = ['valueInstant', 'valueDateTime', 'valueString'];

const INSTANT_HINT =
  'a FHIR instant is a full date-time with seconds and a timezone, e.g. 2024-01-31T12:00:00Z';

function show(value: string): string {
  return value.length > 120 ? `'${value.slice(0, 120)}...'` : `'${value}'`;
}

function bad(message: string, parameter: string): FhirException {
  return FhirException.badRequest(message, [parameter]);
}

/**
 * Validates the query string of a `GET` kick-off (Bulk Data IG, export page "Bulk Data Kick-off
 * Request", "Query Parameters"). A repeated list parameter counts as its comma-separated values.
 */
export function parseExportQuery(
  query: ExportQuery | undefined,
  context: ExportParametersContext,
): ExportRequest {
  const collected = new Map<string, Occurrence[]>();
  for (const [name, raw] of Object.entries(query ?? {})) {
    const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
    if (!values.every((v): v is string => typeof v === 'string')) {
      throw bad(`Query parameter '${name}' must be a plain name=value pair`, name);
    }
    collected.set(
      name,
      values.map((value) => ({ source: 'query', value })),
    );
  }
  return buildExportRequest(collected, 'GET', context);
}

/**
 * Validates the `Parameters` body of a `POST` kick-off (Bulk Data IG, export page "Bulk Data
 * Kick-off Request": POST with a FHIR Parameters resource). Repeating a list parameter is the same
 * as giving its values comma-separated.
 */
export function parseExportParameters(
  body: unknown,
  context: ExportParametersContext,
): ExportRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('The POST $export body must be a FHIR Parameters resource', 'Parameters');
  }
  const resource = body as Record<string, unknown>;
  if (resource.resourceType !== 'Parameters') {
    const given =
      typeof resource.resourceType === 'string' ? show(resource.resourceType) : 'no resourceType';
    throw bad(
      `The POST $export body must be a FHIR Parameters resource, got ${given}`,
      'Parameters',
    );
  }
  const entries = resource.parameter ?? [];
  if (!Array.isArray(entries)) {
    throw bad('Parameters.parameter must be an array', 'Parameters.parameter');
  }

  const collected = new Map<string, Occurrence[]>();
  entries.forEach((entry: unknown, index) => {
    const path = `Parameters.parameter[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw bad(`${path} must be an object`, path);
    }
    const fields = entry as Record<string, unknown>;
    const name = fields.name;
    if (typeof name !== 'string' || name === '') {
      throw bad(`${path} has no name`, `${path}.name`);
    }
    if ('part' in fields || 'resource' in fields) {
      throw bad(`Parameter '${name}' must carry a value[x], not part or resource`, name);
    }
    const valueKeys = Object.keys(fields).filter((key) => key.startsWith('value'));
    if (valueKeys.length !== 1) {
      throw bad(`Parameter '${name}' must have exactly one value[x]`, name);
    }
    const source = valueKeys[0];
    if (!POST_VALUE_TYPES.has(source)) {
      throw bad(`Parameter '${name}' has unsupported value type ${source}`, name);
    }
    const list = collected.get(name) ?? [];
    list.push({ source, value: fields[source] });
    collected.set(name, list);
  });
  return buildExportRequest(collected, 'POST', context);
}

/** Everything both forms share; throws a 400 `FhirException` on the first bad parameter. */
function buildExportRequest(
  collected: Map<string, Occurrence[]>,
  form: Form,
  context: ExportParametersContext,
): ExportRequest {
  const { level, lenient, knownTypes } = context;
  const now = context.now ?? new Date();
  const warnings: string[] = [];

  /** Under `handling=lenient` an unsupported item is dropped and reported; otherwise it is a 400. */
  const unsupported = (message: string, parameter: string): void => {
    if (!lenient) throw bad(message, parameter);
    warnings.push(`Ignored (Prefer: handling=lenient): ${message}`);
  };

  for (const [name, occurrences] of collected) {
    // Before anything can echo it into a warning or the job row (PostgreSQL refuses NUL).
    if (isUnstorableText(name) || occurrences.some((o) => containsUnstorableText(o.value))) {
      throw bad(
        `$export parameter ${show(JSON.stringify(name).slice(1, -1))} contains a control character or an unpaired surrogate`,
        isUnstorableText(name) ? 'Parameters' : name,
      );
    }
  }
  for (const name of collected.keys()) {
    if (KNOWN_PARAMETERS.has(name)) continue;
    if (UNSUPPORTED_PARAMETERS.has(name)) {
      unsupported(`$export parameter '${name}' is not supported by this server`, name);
    } else {
      unsupported(`'${name}' is not a $export parameter (names are case-sensitive)`, name);
    }
  }
  for (const name of SINGLE_VALUED) {
    if ((collected.get(name)?.length ?? 0) > 1) {
      throw bad(`$export parameter '${name}' may be given only once`, name);
    }
  }

  const texts = (name: string, accepted: string[]): string[] | undefined => {
    const occurrences = collected.get(name);
    if (!occurrences) return undefined;
    return occurrences.map(({ source, value }) => {
      if (source !== 'query' && !accepted.includes(source)) {
        throw bad(`'${name}' must be given as ${accepted.join(' or ')}, not ${source}`, name);
      }
      if (typeof value !== 'string') {
        throw bad(`'${name}' ${source} must be a string`, name);
      }
      return value;
    });
  };

  const listItems = (name: string, accepted: string[]): string[] | undefined => {
    const values = texts(name, accepted);
    if (!values) return undefined;
    return values.flatMap((value) =>
      value.split(',').map((item) => {
        const trimmed = item.trim();
        if (trimmed === '') throw bad(`'${name}' has an empty item in ${show(value)}`, name);
        return trimmed;
      }),
    );
  };

  const request: ExportRequest = {
    level,
    outputFormat: 'application/fhir+ndjson',
    typeFilters: [],
    lenient,
    warnings,
  };

  if (level === 'group') {
    const groupId = context.groupId;
    if (groupId === undefined) throw new Error('groupId is required at group level');
    if (!FHIR_ID.test(groupId)) {
      throw bad(`Group id ${show(groupId)} is not a valid FHIR id`, 'Group.id');
    }
    request.groupId = groupId;
  }

  const [outputFormat] = texts('_outputFormat', CODE_VALUES) ?? [];
  if (outputFormat !== undefined) {
    // An unencoded '+' in a query string arrives as a space.
    const format = (form === 'GET' ? outputFormat.replace(/ /g, '+') : outputFormat).toLowerCase();
    if (!OUTPUT_FORMATS.has(format)) {
      throw bad(
        `_outputFormat ${show(outputFormat)} is not supported; use application/fhir+ndjson, application/ndjson or ndjson`,
        '_outputFormat',
      );
    }
  }

  const instant = (name: string) => {
    const [text] = texts(name, INSTANT_VALUES) ?? [];
    if (text === undefined) return undefined;
    // An unencoded '+' before the offset arrives as a space.
    const given = form === 'GET' ? text.replace(/ (\d{2}:\d{2})$/, '+$1') : text;
    const parsed = parseFhirInstant(given);
    if (!parsed) throw bad(`${name} ${show(text)} is not valid: ${INSTANT_HINT}`, name);
    if (parsed.epochMs > now.getTime()) {
      throw bad(`${name} ${show(text)} is in the future (server time ${now.toISOString()})`, name);
    }
    // lastUpdated has millisecond precision, so truncating a finer bound selects exactly what
    // the exact bound would, for `_since` (lastUpdated > since) and `_until` (<= until) alike.
    return {
      name,
      text,
      epochMs: parsed.epochMs,
      normalized: formatInstant(parsed.epochMs, parsed.offset, parsed.offsetMinutes),
    };
  };

  if (collected.has('_until') && collected.has('_till')) {
    throw bad('_until and its alias _till were both given; give one of them', '_till');
  }
  const since = instant('_since');
  const until = instant(collected.has('_till') ? '_till' : '_until');
  if (since && until && until.epochMs < since.epochMs) {
    throw bad(`${until.name} ${show(until.text)} is before _since ${show(since.text)}`, until.name);
  }
  if (since) request.since = since.normalized;
  if (until) request.until = until.normalized;

  const typeItems = listItems('_type', CODE_VALUES);
  if (typeItems) {
    const types: string[] = [];
    for (const type of typeItems) {
      if (knownTypes.isResourceType(type)) types.push(type);
      else unsupported(`_type ${show(type)} is not a resource type this server knows`, '_type');
    }
    request.types = [...new Set(types)].sort();
  }

  const filterValues = texts('_typeFilter', STRING_VALUES);
  if (filterValues) {
    const filters: TypeFilter[] = [];
    for (const filter of filterValues.flatMap(splitTypeFilters)) {
      const parsed = parseTypeFilter(filter);
      if (!parsed.ok) throw bad(`_typeFilter ${show(filter)} ${parsed.reason}`, '_typeFilter');
      if (!knownTypes.isResourceType(parsed.type)) {
        unsupported(
          `_typeFilter ${show(filter)} is for ${show(parsed.type)}, which is not a resource type this server knows`,
          '_typeFilter',
        );
        continue;
      }
      if (request.types && !request.types.includes(parsed.type)) {
        throw bad(
          `_typeFilter ${show(filter)} is for ${parsed.type}, which is not in _type`,
          '_typeFilter',
        );
      }
      filters.push({ type: parsed.type, query: parsed.query });
    }
    request.typeFilters = canonicalTypeFilters(filters);
  }

  const elementItems = listItems('_elements', STRING_VALUES);
  if (elementItems) {
    const elements: string[] = [];
    for (const element of elementItems) {
      const typed = TYPED_ELEMENT.exec(element);
      if (typed && !knownTypes.isResourceType(typed[1])) {
        unsupported(
          `_elements ${show(element)} names ${show(typed[1])}, which is not a resource type this server knows`,
          '_elements',
        );
      } else if (typed || ELEMENT.test(element)) {
        elements.push(element);
      } else {
        throw bad(`_elements ${show(element)} is not an element name or Type.element`, '_elements');
      }
    }
    // Dropping every item lifts the restriction rather than asking for no elements.
    if (elements.length > 0) request.elements = [...new Set(elements)].sort();
  }

  const patientOccurrences = collected.get('patient');
  if (patientOccurrences) {
    if (form === 'GET') {
      throw bad(
        "'patient' is accepted only in a POST kick-off (a Parameters body with patient valueReference), as the Bulk Data IG defines it",
        'patient',
      );
    }
    if (level === 'system') {
      throw bad(
        "'patient' is not allowed at system level; use Patient/$export or Group/[id]/$export",
        'patient',
      );
    }
    const patients = patientOccurrences.map(({ source, value }) => {
      if (source !== 'valueReference') {
        throw bad(`'patient' must be given as valueReference, not ${source}`, 'patient');
      }
      const reference =
        typeof value === 'object' && value !== null
          ? (value as Record<string, unknown>).reference
          : undefined;
      const match = typeof reference === 'string' ? /^Patient\/([^/]+)$/.exec(reference) : null;
      if (!match || !FHIR_ID.test(match[1])) {
        const given = typeof reference === 'string' ? show(reference) : 'a reference without one';
        throw bad(`'patient' must reference Patient/[id], got ${given}`, 'patient');
      }
      return match[1];
    });
    request.patients = [...new Set(patients)].sort();
  }

  const associated = listItems('includeAssociatedData', CODE_VALUES);
  if (associated) {
    const values: string[] = [];
    for (const value of associated) {
      if (ASSOCIATED_DATA.has(value) || value.startsWith('_custom')) values.push(value);
      else
        unsupported(
          `includeAssociatedData ${show(value)} is not supported; use LatestProvenanceResources, RelevantProvenanceResources or a _custom value`,
          'includeAssociatedData',
        );
    }
    if (values.length > 0) request.includeAssociatedData = [...new Set(values)].sort();
  }

  const [container] = texts('_container', STRING_VALUES) ?? [];
  if (container !== undefined) {
    if (/[/\\]|\.\.|%2f/i.test(container)) {
      throw bad(`_container ${show(container)} must be a container name, not a path`, '_container');
    }
    if (!isValidContainerName(container)) {
      throw bad(
        `_container ${show(container)} is not a valid Azure container name: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit`,
        '_container',
      );
    }
    if (isDefaultContainerName(container)) {
      throw bad(
        `_container ${show(container)} is reserved: names like export-<timestamp>-<id> belong to the server's own exports`,
        '_container',
      );
    }
    request.container = container;
  }

  const [config] = texts('_anonymizationConfig', STRING_VALUES) ?? [];
  const [etag] = texts('_anonymizationConfigEtag', STRING_VALUES) ?? [];
  if (etag !== undefined && config === undefined) {
    throw bad('_anonymizationConfigEtag needs _anonymizationConfig', '_anonymizationConfigEtag');
  }
  if (config !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(config) || config.includes('..')) {
      throw bad(
        `_anonymizationConfig ${show(config)} must be the name of a configuration in the anonymization container: letters, digits, '.', '_' and '-', no path`,
        '_anonymizationConfig',
      );
    }
    if (request.container === undefined) {
      throw bad(
        'An anonymized export needs _container: the container its de-identified files go to',
        '_container',
      );
    }
    if (etag !== undefined && !/^"?[\x21\x23-\x7e]{1,256}"?$/.test(etag)) {
      throw bad(
        `_anonymizationConfigEtag ${show(etag)} is not an ETag`,
        '_anonymizationConfigEtag',
      );
    }
    request.anonymization = {
      config,
      ...(etag === undefined ? {} : { etag: etag.startsWith('"') ? etag : `"${etag}"` }),
    };
  }

  return request;
}
