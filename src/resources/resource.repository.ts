import type { ParsedSearch } from '../search/search-query';

/** A FHIR resource as parsed JSON. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** One stored version of a resource. `content` is the JSON exactly as served (null when deleted). */
export interface StoredResource {
  seq: string;
  type: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  content: string | null;
  patientIds: string[];
}

export interface WriteResult {
  stored: StoredResource;
  /** true when this write created the resource (or re-created it after a delete). */
  created: boolean;
}

export interface VersionCondition {
  /** Expected current version (from If-Match); a mismatch fails with 412. */
  ifMatch?: number;
}

/**
 * Writes inside one database transaction. All writes of a session share its clock
 * (FHIR transaction Bundles get one lastUpdated) and commit or roll back together.
 */
export interface ResourceSession {
  /** Creates a resource with a new server-assigned id (`id`: one the caller generated, e.g. for urn:uuid rewriting). */
  create(resource: FhirResource, options?: { id?: string }): Promise<StoredResource>;
  /**
   * Creates several resources as {@link create} does, in one round trip per large chunk rather
   * than one per resource. Results line up with `resources`.
   */
  createMany(resources: readonly NewResource[]): Promise<StoredResource[]>;
  /** Update, or create with the client's id when it does not exist (FHIR update-as-create). */
  update(
    type: string,
    id: string,
    resource: FhirResource,
    condition?: VersionCondition,
  ): Promise<WriteResult>;
  /** Versioned soft delete; null when there was nothing current to delete. */
  delete(type: string, id: string, condition?: VersionCondition): Promise<StoredResource | null>;
  read(type: string, id: string): Promise<StoredResource | null>;
  /**
   * Current, not deleted resources of `type` with a matching `identifier` element: what
   * conditional create (`ifNoneExist`) and conditional references need until the search index
   * exists. With `lock`, holds a transaction lock on the condition first, so concurrent
   * conditional creates of the same identifier take turns and the second finds the first.
   */
  findByIdentifier(
    type: string,
    identifier: IdentifierCondition,
    options?: { lock?: boolean },
  ): Promise<StoredResource[]>;
}

/** A resource to create, with the id the caller generated (else the store assigns one). */
export interface NewResource {
  resource: FhirResource;
  id?: string;
}

/** A token search on `identifier`: `system|value`, `|value` (system: '') or `value` (any system). */
export interface IdentifierCondition {
  system?: string;
  value: string;
}

/** One `_typeFilter` query (Bulk Data IG, export page "Experimental Query Parameters"). */
export interface ExportTypeFilter {
  /** FHIR search parameters on the page's type, the raw text after `Type?`. */
  query: string;
}

/** Filters of one keyset page of an export; see {@link ResourceRepository.exportPage}. */
export interface ExportPageQuery {
  type: string;
  /** Exclusive lower bound on seq (the cursor); '0' to start. */
  afterSeq: string;
  limit: number;
  /** The export's snapshot instant: each resource as it was at this time. */
  transactionTime: Date;
  /** Only resources whose lastUpdated is after this instant. */
  since?: Date;
  /** Only resources whose lastUpdated is at or before this instant. */
  until?: Date;
  /** Only resources in the compartment of one of these patients. */
  patientIds?: readonly string[];
  /** Only resources in some patient's compartment (Patient-level export). */
  anyPatientCompartment?: boolean;
  /**
   * `_typeFilter` queries for this type: a resource matches when any query matches it (each
   * query's parameters AND-ed), evaluated as of `transactionTime`. Absent or empty: no filter.
   * Parameters the server cannot evaluate are ignored here; the kick-off refuses them (or,
   * with `Prefer: handling=lenient`, reports them) through `parseSearchQuery`.
   */
  typeFilters?: readonly ExportTypeFilter[];
  /**
   * Resources of `type` never exported, whatever else matches: the Group a Group-level export
   * reads its members from (and the Groups nested in it) sits in its members' compartments
   * through `member`, yet is not part of the export (Bulk Data IG, "Group of Patients").
   */
  excludeIds?: { type: string; ids: readonly string[] };
}

/** Which Provenance resources `includeAssociatedData` adds (Bulk Data IG, "Query Parameters"). */
export type ProvenanceAssociation = 'latest' | 'relevant';

/**
 * One keyset page of the Provenance resources an export writes; see
 * {@link ResourceRepository.provenancePage}. The filters shared by every exported type
 * (`transactionTime`, `since`, `until`, compartment, `excludeIds`) select the exported resources
 * the Provenance must target; they do not filter the Provenance resources themselves except
 * through `own`.
 */
export interface ProvenancePageQuery extends Omit<ExportPageQuery, 'type' | 'typeFilters'> {
  association: ProvenanceAssociation;
  /** The exported non-Provenance types, each with its own `_typeFilter` queries. */
  targets: readonly { type: string; typeFilters?: readonly ExportTypeFilter[] }[];
  /**
   * Present when Provenance is itself an exported type: the page is then the union of the
   * Provenance resources those filters select (with these `_typeFilter` queries) and the
   * associated ones, each once.
   */
  own?: { typeFilters?: readonly ExportTypeFilter[] };
}

/** Where a search page starts: after the row with these sort values (keyset, never OFFSET). */
export interface SearchCursor {
  seq: string;
  lastUpdated?: string;
  id?: string;
}

/** One keyset page of a FHIR search over current versions; see {@link ResourceRepository.search}. */
export interface SearchPageQuery {
  search: ParsedSearch;
  limit: number;
  after?: SearchCursor;
}

export interface SearchRow {
  seq: string;
  id: string;
  lastUpdated: Date;
  content: string;
}

/** One export page as NDJSON: each resource's stored JSON followed by a newline. */
export interface NdjsonPage {
  ndjson: Buffer;
  count: number;
  /** seq of the page's last row (the next page's cursor); undefined for an empty page. */
  lastSeq?: string;
}

export interface ExportRow {
  seq: string;
  content: string;
}

/**
 * The resource store port. Nothing outside the store writes SQL on resources;
 * the bulk export pages through {@link exportPage}.
 */
export abstract class ResourceRepository {
  abstract read(type: string, id: string): Promise<StoredResource | null>;
  abstract vread(type: string, id: string, versionId: number): Promise<StoredResource | null>;
  /** Versions of one resource, newest first. */
  abstract history(
    type: string,
    id: string,
    options: { count: number; beforeVersion?: number },
  ): Promise<StoredResource[]>;
  /** Runs `work` in one database transaction; rolls everything back when it throws. */
  abstract inTransaction<T>(work: (session: ResourceSession) => Promise<T>): Promise<T>;
  /**
   * One keyset page (`seq > afterSeq ORDER BY seq LIMIT n`, never OFFSET) of the resources of
   * one type as they were at `transactionTime`, deleted ones left out.
   */
  abstract exportPage(query: ExportPageQuery): Promise<ExportRow[]>;
  /**
   * The same page as {@link exportPage}, as NDJSON: each resource's stored JSON and a newline,
   * copied as bytes without making a string of each resource.
   */
  abstract exportPageNdjson(query: ExportPageQuery): Promise<NdjsonPage>;
  /** How many resources of one type the same filters select (cursor and limit ignored). */
  abstract exportCount(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): Promise<number>;
  /**
   * {@link exportCount} of many types without `_typeFilter` in one query: a system export
   * covers ~146 types, most of them empty. Every type asked for is in the map, 0 when empty.
   */
  abstract exportCounts(
    query: Omit<ExportPageQuery, 'type' | 'afterSeq' | 'limit' | 'typeFilters'> & {
      types: readonly string[];
    },
  ): Promise<Map<string, number>>;
  /**
   * One keyset page (by seq, never OFFSET) of Provenance resources as they were at
   * `transactionTime`, deleted ones left out, that `includeAssociatedData` adds to an export
   * (Bulk Data IG, "Query Parameters"), plus, with `own`, the Provenance exported as a type.
   *
   * A Provenance P is associated with resource X when one of P's `target` references (any
   * version, relative or absolute-local) names X's type and id, and X is exported: X's version
   * as of `transactionTime` exists, is not deleted, is of one of `targets`' types and passes
   * that type's filters exactly as its own export page does.
   * - `relevant`: every associated P.
   * - `latest`: P is included when, for at least one such X, no other Provenance as of
   *   `transactionTime` that targets X has a later lastUpdated than P. Provenances that tie
   *   on the greatest lastUpdated (written by one transaction) are all included: the store
   *   has no order between them.
   * Each Provenance appears at most once however many exported resources it targets.
   */
  abstract provenancePage(query: ProvenancePageQuery): Promise<ExportRow[]>;
  /** How many Provenance resources the same selection yields (cursor and limit ignored). */
  abstract provenanceCount(query: Omit<ProvenancePageQuery, 'afterSeq' | 'limit'>): Promise<number>;
  /**
   * One page of a FHIR search (https://hl7.org/fhir/R4/search.html) on the current, not
   * deleted versions of `search.type`, ordered by `search.sort` (then seq), after `after`.
   */
  abstract search(query: SearchPageQuery): Promise<SearchRow[]>;
  /** How many current resources the search matches. */
  abstract searchCount(search: ParsedSearch): Promise<number>;
}
