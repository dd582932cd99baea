import { requirePermission } from '../auth/access/access-policy';
import { AccessPrincipal } from '../auth/access/principal';
import { Injectable } from '@nestjs/common';
import { FhirException } from '../common/fhir-exception';
import { FhirResponse } from '../common/fhir-response';
import {
  CURSOR_PARAMETER,
  DEFAULT_COUNT,
  ParsedSearch,
  chainedTypes,
  parseSearchQuery,
  SearchSort,
} from './search-query';
import { SearchParameters } from './search-parameters';
import { SearchCursor, SearchRepository, SearchRow } from './search.repository';

/** What a search needs to know about the request beyond its parameters. */
export interface SearchContext {
  /** Service base URL without trailing slash. */
  baseUrl: string;
  /** `Prefer: handling=lenient` (search.html#errors). */
  lenient: boolean;
  principal: AccessPrincipal;
}

/**
 * FHIR type-level search (https://hl7.org/fhir/R4/search.html) over the search index:
 * a `searchset` Bundle paged with a keyset cursor in the `next` link, entries carrying the
 * stored JSON as is.
 */
@Injectable()
export class SearchService {
  constructor(
    private readonly repository: SearchRepository,
    private readonly parameters: SearchParameters,
  ) {}

  /** Searches `type` with decoded query (and, for POST `_search`, form) parameters. */
  async search(
    type: string,
    pairs: readonly [string, string][],
    context: SearchContext,
  ): Promise<FhirResponse> {
    if (!this.parameters.definitions.isResourceType(type)) {
      throw FhirException.notFound(`Unknown resource type ${type}`);
    }
    const search = parseSearchQuery(type, pairs, this.parameters, { lenient: context.lenient });
    // A chain filters by the other type's data: without search on it, that must not leak.
    requirePermission(context.principal, chainedTypes(search), ['s']);
    const count = search.summaryCount ? 0 : (search.count ?? DEFAULT_COUNT);
    const after =
      search.cursor === undefined ? undefined : decodeCursor(search.cursor, search.sort);
    const wantTotal =
      search.summaryCount || search.total === 'accurate' || search.total === 'estimate';
    const total = wantTotal ? await this.repository.count(search) : undefined;
    // One extra row tells whether there is a next page.
    const rows =
      count === 0 ? [] : await this.repository.search({ search, limit: count + 1, after });
    const page = rows.slice(0, count);
    const self = searchUrl(context.baseUrl, search, count, search.cursor);
    const links = [{ relation: 'self', url: self }];
    if (rows.length > count) {
      const cursor = encodeCursor(page[page.length - 1], search.sort);
      links.push({ relation: 'next', url: searchUrl(context.baseUrl, search, count, cursor) });
    }
    const entries = page.map(
      (row) =>
        `{"fullUrl":${JSON.stringify(`${context.baseUrl}/${type}/${row.id}`)},` +
        `"resource":${row.content},"search":{"mode":"match"}}`,
    );
    if (search.ignored.length > 0) entries.push(ignoredEntry(search));
    const body =
      `{"resourceType":"Bundle","type":"searchset"` +
      `${total === undefined ? '' : `,"total":${total}`}` +
      `,"link":${JSON.stringify(links)},"entry":[${entries.join(',')}]}`;
    return { status: 200, headers: {}, body };
  }
}

function searchUrl(
  baseUrl: string,
  search: ParsedSearch,
  count: number,
  cursor: string | undefined,
): string {
  const pairs = search.pairs.filter(([name]) => name !== '_count');
  pairs.push(['_count', String(count)]);
  if (search.summaryCount) pairs.push(['_summary', 'count']);
  if (search.total) pairs.push(['_total', search.total]);
  if (cursor !== undefined) pairs.push([CURSOR_PARAMETER, cursor]);
  const query = pairs
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
  return `${baseUrl}/${search.type}?${query}`;
}

function ignoredEntry(search: ParsedSearch): string {
  return JSON.stringify({
    resource: {
      resourceType: 'OperationOutcome',
      issue: search.ignored.map(({ name, reason }) => ({
        severity: 'warning',
        code: 'not-supported',
        diagnostics: `Ignored: ${reason}`,
        expression: [name],
      })),
    },
    search: { mode: 'outcome' },
  });
}

/** The cursor of the row a page ends with: its seq and the value it is sorted by. */
function encodeCursor(row: SearchRow, sort: SearchSort | undefined): string {
  const cursor: SearchCursor = { seq: row.seq };
  if (sort?.key === '_lastUpdated') cursor.lastUpdated = row.lastUpdated.toISOString();
  if (sort?.key === '_id') cursor.id = row.id;
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(value: string, sort: SearchSort | undefined): SearchCursor {
  const invalid = (): FhirException =>
    FhirException.badRequest(`Invalid or stale paging cursor ${CURSOR_PARAMETER}`, [
      CURSOR_PARAMETER,
    ]);
  let cursor: Partial<SearchCursor>;
  try {
    cursor = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<SearchCursor>;
  } catch {
    throw invalid();
  }
  if (typeof cursor !== 'object' || cursor === null || !/^\d{1,19}$/.test(String(cursor.seq))) {
    throw invalid();
  }
  if (sort?.key === '_lastUpdated' && Number.isNaN(Date.parse(String(cursor.lastUpdated)))) {
    throw invalid();
  }
  if (sort?.key === '_id' && typeof cursor.id !== 'string') throw invalid();
  return cursor as SearchCursor;
}
