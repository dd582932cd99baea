/** Which `$export` endpoint was called (Bulk Data IG, export page "Endpoint"). */
export type ExportLevel = 'system' | 'patient' | 'group';

/** One `_typeFilter` entry: a FHIR search on `type`, kept as text until the search module evaluates it. */
export interface TypeFilter {
  type: string;
  /** The raw query part after `?`, percent-escapes untouched, parameters sorted. */
  query: string;
}

/**
 * A validated `$export` kick-off request, the same whether it came as GET query or POST
 * `Parameters` (Bulk Data IG, export page "Bulk Data Kick-off Request" and "Query Parameters").
 */
export interface ExportRequest {
  level: ExportLevel;
  /** Only for `group` level. */
  groupId?: string;
  outputFormat: 'application/fhir+ndjson';
  /** FHIR instant, in the client's offset, with exactly three fractional digits. */
  since?: string;
  /** FHIR instant (`_until`, or its alias `_till`), formatted like `since`. */
  until?: string;
  /** Sorted, unique; undefined means every type the level covers. */
  types?: string[];
  /** Sorted by type, then query; unique. */
  typeFilters: TypeFilter[];
  /** `element` or `Type.element`, sorted, unique. */
  elements?: string[];
  /** Patient ids from POST `patient` references, sorted, unique. */
  patients?: string[];
  includeAssociatedData?: string[];
  /** Azure-specific `_container`: target container name. */
  container?: string;
  /**
   * Azure-specific de-identified export: `_anonymizationConfig` names a configuration in the
   * `anonymization` container, `_anonymizationConfigEtag` the version it must be (quoted).
   * `version` is the ETag of the configuration the kick-off validated and the job runs.
   */
  anonymization?: { config: string; etag?: string; version?: string };
  lenient: boolean;
  /** What `Prefer: handling=lenient` let through by skipping; each becomes an OperationOutcome in the manifest's error files. */
  warnings: string[];
}

function sortedUnique(values: readonly string[] | undefined): string[] | undefined {
  return values === undefined ? undefined : [...new Set(values)].sort();
}

function compareTypeFilters(a: TypeFilter, b: TypeFilter): number {
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  if (a.query !== b.query) return a.query < b.query ? -1 : 1;
  return 0;
}

/** Sorts and de-duplicates type filters into the canonical order `ExportRequest.typeFilters` uses. */
export function canonicalTypeFilters(filters: readonly TypeFilter[]): TypeFilter[] {
  const sorted = [...filters].sort(compareTypeFilters);
  return sorted.filter((f, i) => i === 0 || compareTypeFilters(sorted[i - 1], f) !== 0);
}

function utcInstant(instant: string | undefined): string | undefined {
  // The same instant written in two offsets selects the same resources.
  return instant === undefined ? undefined : new Date(instant).toISOString();
}

/**
 * Canonical JSON of everything that changes the export output (warnings included, `lenient` not),
 * so two kick-offs asking for the same export get the same key whatever order or form they used.
 */
export function normalizedRequestKey(req: ExportRequest): string {
  const canonical = {
    level: req.level,
    groupId: req.level === 'group' ? req.groupId : undefined,
    outputFormat: req.outputFormat,
    since: utcInstant(req.since),
    until: utcInstant(req.until),
    types: sortedUnique(req.types),
    typeFilters: canonicalTypeFilters(req.typeFilters).map((f) => [f.type, f.query]),
    elements: sortedUnique(req.elements),
    patients: sortedUnique(req.patients),
    includeAssociatedData: sortedUnique(req.includeAssociatedData),
    container: req.container,
    // An anonymized export is never joined with a raw one, nor with one of another config.
    anonymization: req.anonymization,
    // The warnings become the manifest's error files, so they are part of the output too.
    warnings: sortedUnique(req.warnings),
  };
  return JSON.stringify(canonical);
}
