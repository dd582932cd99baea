/** One `_typeFilter` query (Bulk Data IG, export page "Experimental Query Parameters"). */
export interface ExportTypeFilter {
  /** FHIR search parameters on the page's type, the raw text after `Type?`. */
  query: string;
}

/** Filters of one keyset page of an export; see {@link ExportReadRepository.page}. */
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
  /**
   * The export job whose selection narrows a Group or `patient` export (see
   * {@link ExportSelection}): only resources in the compartment of one of its member Patients,
   * and none it excludes.
   */
  selectionOf?: string;
  /**
   * The export job whose selected rows of `type` (see {@link ExportReadRepository.selectRows})
   * the page reads; the other filters were applied when they were selected.
   */
  rowsOf?: string;
  /** Only resources in some patient's compartment (Patient-level export). */
  anyPatientCompartment?: boolean;
  /**
   * `_typeFilter` queries for this type: a resource matches when any query matches it (each
   * query's parameters AND-ed), evaluated as of `transactionTime`. Absent or empty: no filter.
   * Parameters the server cannot evaluate are ignored here; the kick-off refuses them (or,
   * with `Prefer: handling=lenient`, reports them) through `parseSearchQuery`.
   */
  typeFilters?: readonly ExportTypeFilter[];
}

/**
 * Who a Group or `patient` export covers, kept once per job for its pages to join rather than
 * bound into every page's statement.
 */
export interface ExportSelection {
  /** Ids of the Patients whose compartments are exported. */
  members: readonly string[];
  /**
   * Resources never exported, whatever else matches: the Group a Group-level export reads its
   * members from (and the Groups nested in it) sits in its members' compartments through
   * `member`, yet is not part of the export (Bulk Data IG, "Group of Patients").
   */
  excluded: readonly { type: string; id: string }[];
}

/** Which Provenance resources `includeAssociatedData` adds (Bulk Data IG, "Query Parameters"). */
export type ProvenanceAssociation = 'latest' | 'relevant';

/**
 * One keyset page of the Provenance resources an export writes; see
 * {@link ExportReadRepository.provenancePage}. The filters shared by every exported type
 * (`transactionTime`, `since`, `until`, compartment, exclusions) select the exported resources
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
 * The reads of one export (Bulk Data IG, export page): keyset pages of each type as of the
 * export's transaction time, counts for progress, and the Provenance `includeAssociatedData`
 * adds. Nothing else in the export touches the `resource` table.
 */
export abstract class ExportReadRepository {
  /**
   * Keeps the selection of export `jobId` for pages that name it in `selectionOf`. Worked out
   * from the job as of its transaction time, a selection is the same on every run: writing it
   * again adds nothing.
   */
  abstract saveSelection(jobId: string, selection: ExportSelection): Promise<void>;
  /**
   * Keeps, under export `jobId`, which rows of `query.type` the query selects, for pages that
   * name the job in `rowsOf`: one pass with the filter values bound, after which every page
   * reads its own rows in order. Selecting again adds nothing. Returns how many it added.
   */
  abstract selectRows(
    jobId: string,
    query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>,
  ): Promise<number>;
  /** Lets go of what {@link selectRows} kept for an export that ended. */
  abstract forgetRows(jobId: string): Promise<void>;
  /**
   * One keyset page (`seq > afterSeq ORDER BY seq LIMIT n`, never OFFSET) of the resources of
   * one type as they were at `transactionTime`, deleted ones left out.
   */
  abstract page(query: ExportPageQuery): Promise<ExportRow[]>;
  /**
   * The same page as {@link page}, as NDJSON: each resource's stored JSON and a newline,
   * copied as bytes without making a string of each resource.
   */
  abstract pageNdjson(query: ExportPageQuery): Promise<NdjsonPage>;
  /** How many resources of one type the same filters select (cursor and limit ignored). */
  abstract count(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): Promise<number>;
  /**
   * {@link count} of many types without `_typeFilter` in one query: a system export
   * covers ~146 types, most of them empty. Every type asked for is in the map, 0 when empty.
   */
  abstract counts(
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
  /**
   * The stored JSON of `type/id` as it was at `at`; null when it did not exist then or was
   * deleted.
   */
  abstract versionAsOf(type: string, id: string, at: Date): Promise<string | null>;

  /** Which of `ids` name a `type` resource that exists (not deleted) at `at`. */
  abstract existingIds(type: string, ids: readonly string[], at: Date): Promise<Set<string>>;
  /** How many Provenance resources the same selection yields (cursor and limit ignored). */
  abstract provenanceCount(query: Omit<ProvenancePageQuery, 'afterSeq' | 'limit'>): Promise<number>;
}
