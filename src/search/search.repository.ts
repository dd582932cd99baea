import type { ParsedSearch } from './search-query';

/** Where a search page starts: after the row with these sort values (keyset, never OFFSET). */
export interface SearchCursor {
  seq: string;
  lastUpdated?: string;
  id?: string;
}

/** One keyset page of a FHIR search over current versions; see {@link SearchRepository.search}. */
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

/** The reads of FHIR search (https://hl7.org/fhir/R4/search.html) over the search index. */
export abstract class SearchRepository {
  /**
   * One page of a search on the current, not deleted versions of `search.type`, ordered by
   * `search.sort` (then seq), after `after`.
   */
  abstract search(query: SearchPageQuery): Promise<SearchRow[]>;
  /** How many current resources the search matches. */
  abstract count(search: ParsedSearch): Promise<number>;
}
