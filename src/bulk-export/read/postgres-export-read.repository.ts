import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { SqlParams, versionScopeConditions } from '../../database/resource-sql';
import { ParsedSearch, parseSearchQuery } from '../../search/search-query';
import { SearchParameters } from '../../search/search-parameters';
import { anyOfSearchesSql } from '../../search/search-sql';
import { copyNdjsonPage, ndjsonFromRows } from './copy-ndjson';
import {
  ExportPageQuery,
  ExportReadRepository,
  ExportRow,
  ExportSelection,
  ExportTypeFilter,
  NdjsonPage,
  ProvenancePageQuery,
} from './export-read.repository';

const PROVENANCE = 'Provenance';
/** The Provenance search parameter whose index rows hold `Provenance.target`. */
const TARGET_PARAM = 'target';

/**
 * {@link ExportReadRepository} on PostgreSQL: keyset pages on `(type, seq)`, plain pages as
 * binary COPY, `_typeFilter` evaluated in SQL against the search index as of the export's
 * transaction time.
 */
@Injectable()
export class PostgresExportReadRepository extends ExportReadRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly searchParameters: SearchParameters,
  ) {
    super();
  }

  async saveSelection(jobId: string, selection: ExportSelection): Promise<void> {
    const rows = [
      ...selection.members.map((id) => ['member', 'Patient', id]),
      ...selection.excluded.map(({ type, id }) => ['excluded', type, id]),
    ];
    if (rows.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO export_selection (job_id, role, type, id)
       SELECT $1::uuid, role, type, id FROM unnest($2::text[], $3::text[], $4::text[]) AS s(role, type, id)
       ON CONFLICT DO NOTHING`,
      [jobId, ...[0, 1, 2].map((column) => rows.map((row) => row[column]))],
    );
  }

  async selectRows(
    jobId: string,
    query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>,
  ): Promise<number> {
    const { where, params } = this.exportFilter(query);
    const job = params.add(jobId);
    const [row] = await this.dataSource.query<{ n: string }[]>(
      `WITH added AS (
         INSERT INTO export_row (job_id, type, seq)
         SELECT ${job}::uuid, r.type, r.seq FROM resource r WHERE ${where}
         ON CONFLICT DO NOTHING RETURNING 1)
       SELECT count(*)::bigint AS n FROM added`,
      params.values,
    );
    return Number(row.n);
  }

  async forgetRows(jobId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM export_row WHERE job_id = $1::uuid`, [jobId]);
  }

  async page(query: ExportPageQuery): Promise<ExportRow[]> {
    const { sql, values } = this.pageSql(query);
    return await this.dataSource.query<ExportRow[]>(sql, values);
  }

  async pageNdjson(query: ExportPageQuery): Promise<NdjsonPage> {
    // COPY takes no bind parameters, so its values end up in the statement text, which
    // PostgreSQL may log (on an error) and keep in pg_stat_activity and pg_stat_statements.
    // Only pages whose values identify nobody (type, instants, cursor, a job id) go that way;
    // pages filtered by _typeFilter search values read rows, unless their rows were selected.
    if (query.typeFilters?.length && !query.rowsOf) {
      return ndjsonFromRows(await this.page(query));
    }
    const { sql, values } = this.pageSql(query);
    const runner = this.dataSource.createQueryRunner();
    try {
      return await copyNdjsonPage((await runner.connect()) as PoolClient, sql, values);
    } finally {
      await runner.release();
    }
  }

  private pageSql(query: ExportPageQuery): { sql: string; values: unknown[] } {
    if (query.rowsOf) {
      return {
        sql: `SELECT r.seq, r.content FROM export_row e JOIN resource r ON r.seq = e.seq
         WHERE e.job_id = $1::uuid AND e.type = $2 AND e.seq > $3
         ORDER BY e.type, e.seq LIMIT $4`,
        values: [query.rowsOf, query.type, query.afterSeq, query.limit],
      };
    }
    const { where, params } = this.exportFilter(query);
    const after = params.add(query.afterSeq);
    const limit = params.add(query.limit);
    return {
      // `type = ANY(ARRAY[...])` and `ORDER BY type, seq` keep the planner on (type, seq): with
      // a plain `type = $1` it may walk the primary key in seq order and filter by type, which
      // for every type but the largest reads most of the table per page (measured: 180k
      // resources/s over all types that way, 208k on (type, seq)).
      sql: `SELECT r.seq, r.content FROM resource r WHERE ${where} AND r.seq > ${after}
       ORDER BY r.type, r.seq LIMIT ${limit}`,
      values: params.values,
    };
  }

  async count(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): Promise<number> {
    const { where, params } = this.exportFilter(query);
    const [row] = await this.dataSource.query<{ n: string }[]>(
      `SELECT count(*)::bigint AS n FROM resource r WHERE ${where}`,
      params.values,
    );
    return Number(row.n);
  }

  async counts(
    query: Omit<ExportPageQuery, 'type' | 'afterSeq' | 'limit' | 'typeFilters'> & {
      types: readonly string[];
    },
  ): Promise<Map<string, number>> {
    if (query.types.length === 0) return new Map();
    const params = new SqlParams([query.types, query.transactionTime]);
    const where = [
      'r.type = ANY($1::text[])',
      ...this.sharedExportConditions('r', query, params, '$2'),
    ];
    const rows = await this.dataSource.query<{ type: string; n: string }[]>(
      `SELECT r.type, count(*)::bigint AS n FROM resource r WHERE ${where.join(' AND ')}
       GROUP BY r.type`,
      params.values,
    );
    const found = new Map(rows.map((row) => [row.type, Number(row.n)]));
    return new Map(query.types.map((type) => [type, found.get(type) ?? 0]));
  }

  async versionAsOf(type: string, id: string, at: Date): Promise<string | null> {
    const rows = await this.dataSource.query<{ content: string }[]>(
      `SELECT r.content FROM resource r
       WHERE r.type = $1 AND r.id = $2 AND ${versionScopeConditions('r', { asOf: '$3' }).join(' AND ')}`,
      [type, id, at],
    );
    return rows[0]?.content ?? null;
  }

  async existingIds(type: string, ids: readonly string[], at: Date): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT r.id FROM resource r
       WHERE r.type = $1 AND r.id = ANY($2::text[])
         AND ${versionScopeConditions('r', { asOf: '$3' }).join(' AND ')}`,
      [type, ids, at],
    );
    return new Set(rows.map((r) => r.id));
  }

  async provenancePage(query: ProvenancePageQuery): Promise<ExportRow[]> {
    const { where, params } = this.provenanceFilter(query);
    const after = params.add(query.afterSeq);
    const limit = params.add(query.limit);
    return await this.dataSource.query<ExportRow[]>(
      `SELECT p.seq, p.content FROM resource p WHERE ${where} AND p.seq > ${after}
       ORDER BY p.seq LIMIT ${limit}`,
      params.values,
    );
  }

  async provenanceCount(query: Omit<ProvenancePageQuery, 'afterSeq' | 'limit'>): Promise<number> {
    const { where, params } = this.provenanceFilter(query);
    const [row] = await this.dataSource.query<{ n: string }[]>(
      `SELECT count(*)::bigint AS n FROM resource p WHERE ${where}`,
      params.values,
    );
    return Number(row.n);
  }

  /** The rows of one type as they were at transactionTime, deleted ones left out. */
  private exportFilter(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): {
    where: string;
    params: SqlParams;
  } {
    const params = new SqlParams([query.type, query.transactionTime]);
    const where = [
      'r.type = ANY(ARRAY[$1::text])',
      ...this.sharedExportConditions('r', query, params, '$2', '$1'),
    ];
    if (query.typeFilters?.length) {
      const searches = this.typeFilterSearches(query.type, query.typeFilters);
      where.push(`(${anyOfSearchesSql(searches, 'r', params, { asOf: '$2::timestamptz' })})`);
    }
    return { where: where.join(' AND '), params };
  }

  /**
   * The conditions every exported type shares, on rows aliased `alias`: the version as of
   * `asOf` (the placeholder holding transactionTime), not deleted, `_since`/`_until`, the
   * compartment, and, last, the exclusion (absent when there is none). `type` is the
   * placeholder of the rows' one type, when they have one.
   */
  private sharedExportConditions(
    alias: string,
    query: Omit<ExportPageQuery, 'type' | 'afterSeq' | 'limit' | 'typeFilters'>,
    params: SqlParams,
    asOf: string,
    type?: string,
  ): string[] {
    const where = versionScopeConditions(alias, { asOf });
    if (query.since) where.push(`${alias}.last_updated > ${params.add(query.since)}`);
    if (query.until) where.push(`${alias}.last_updated <= ${params.add(query.until)}`);
    if (query.selectionOf) {
      // The members as one array, worked out once per statement, so a GIN index finds their
      // rows: of the one type (`type`, its placeholder) when the rows are of one type, through
      // ix_resource_compartment; the exclusions as an anti-join on the selection's key.
      const job = `${params.add(query.selectionOf)}::uuid`;
      const members = `FROM export_selection s WHERE s.job_id = ${job} AND s.role = 'member'`;
      where.push(
        type
          ? `resource_compartment_keys(${alias}.type, ${alias}.patient_ids) && ` +
              `ARRAY(SELECT ${type}::text || '|' || s.id ${members})`
          : `${alias}.patient_ids && ARRAY(SELECT s.id ${members})`,
        `NOT EXISTS (SELECT 1 FROM export_selection s WHERE s.job_id = ${job} ` +
          `AND s.role = 'excluded' AND s.type = ${alias}.type AND s.id = ${alias}.id)`,
      );
    } else if (query.anyPatientCompartment) {
      where.push(`${alias}.patient_ids <> '{}'`);
    }
    return where;
  }

  /**
   * The Provenance rows of {@link ExportReadRepository.provenancePage}: Provenance versions as
   * of transactionTime that the export selects as a type (`own`) or that target a resource the
   * export writes, probed through the `target` rows of the search index (correlated on the
   * Provenance version's seq, so never a scan of all references).
   */
  private provenanceFilter(query: Omit<ProvenancePageQuery, 'afterSeq' | 'limit'>): {
    where: string;
    params: SqlParams;
  } {
    const params = new SqlParams([PROVENANCE, query.transactionTime]);
    const asOf = '$2';
    const where = ['p.type = $1', ...versionScopeConditions('p', { asOf })];
    const selected: string[] = [];
    if (query.own) {
      const own = this.sharedExportConditions('p', query, params, asOf);
      if (query.own.typeFilters?.length) {
        const searches = this.typeFilterSearches(PROVENANCE, query.own.typeFilters);
        own.push(`(${anyOfSearchesSql(searches, 'p', params, { asOf: `${asOf}::timestamptz` })})`);
      }
      selected.push(own.join(' AND '));
    }
    const associated = this.associatedProvenanceSql(query, params, asOf);
    if (associated) selected.push(associated);
    where.push(selected.length ? `(${selected.map((s) => `(${s})`).join(' OR ')})` : 'FALSE');
    return { where: where.join(' AND '), params };
  }

  /** EXISTS a `target` of Provenance `p` that is an exported resource (and, for latest, P is its newest). */
  private associatedProvenanceSql(
    query: Omit<ProvenancePageQuery, 'afterSeq' | 'limit'>,
    params: SqlParams,
    asOf: string,
  ): string | undefined {
    const targets = query.targets.filter((t) => t.type !== PROVENANCE);
    if (!targets.length) return undefined;
    const unfiltered = targets.filter((t) => !t.typeFilters?.length).map((t) => t.type);
    const types: string[] = [];
    if (unfiltered.length) types.push(`x.type = ANY(${params.add(unfiltered)}::text[])`);
    for (const target of targets) {
      if (!target.typeFilters?.length) continue;
      const searches = this.typeFilterSearches(target.type, target.typeFilters);
      types.push(
        `(x.type = ${params.add(target.type)} AND ` +
          `(${anyOfSearchesSql(searches, 'x', params, { asOf: `${asOf}::timestamptz` })}))`,
      );
    }
    const target = params.add(TARGET_PARAM);
    const provenance = params.add(PROVENANCE);
    const newer =
      query.association === 'latest'
        ? ` AND NOT EXISTS (SELECT 1 FROM search_reference t2 JOIN resource q ON q.seq = t2.seq
             WHERE t2.type = ${provenance} AND t2.param = ${target}
               AND t2.target_id = t.target_id AND t2.target_type = t.target_type
               AND q.type = ${provenance} AND ${versionScopeConditions('q', { asOf }).join(' AND ')}
               AND q.last_updated > p.last_updated)`
        : '';
    return `EXISTS (SELECT 1 FROM search_reference t
         JOIN resource x ON x.type = t.target_type AND x.id = t.target_id
         WHERE t.seq = p.seq AND t.type = ${provenance} AND t.param = ${target}
           AND ${this.sharedExportConditions('x', query, params, asOf).join(' AND ')}
           AND (${types.join(' OR ')})${newer})`;
  }

  private typeFilterSearches(type: string, filters: readonly ExportTypeFilter[]): ParsedSearch[] {
    return filters.map((f) =>
      parseSearchQuery(type, f.query, this.searchParameters, {
        lenient: true,
        context: 'filter',
      }),
    );
  }
}
