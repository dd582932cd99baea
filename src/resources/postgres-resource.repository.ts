import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { PoolClient } from 'pg';
import { DataSource, QueryRunner } from 'typeorm';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { FhirDefinitions } from '../fhir/fhir-definitions.service';
import { PatientCompartment } from '../fhir/patient-compartment.service';
import { SearchIndexBatch } from '../search/search-index-batch';
import { SearchIndexer } from '../search/search-indexer';
import { ParsedSearch, parseSearchQuery } from '../search/search-query';
import {
  anyOfSearchesSql,
  searchConditionsSql,
  SqlParams,
  versionScopeSql,
} from '../search/search-sql';
import {
  ExportPageQuery,
  ExportRow,
  ExportTypeFilter,
  FhirResource,
  IdentifierCondition,
  NewResource,
  NdjsonPage,
  ProvenancePageQuery,
  ResourceRepository,
  ResourceSession,
  SearchPageQuery,
  SearchRow,
  StoredResource,
  VersionCondition,
  WriteResult,
} from './resource.repository';
import { copyNdjsonPage, ndjsonFromRows } from './copy-ndjson';

interface ResourceRow {
  seq: string;
  type: string;
  id: string;
  version: number;
  last_updated: Date;
  deleted: boolean;
  content: string | null;
  patient_ids: string[];
}

const PROVENANCE = 'Provenance';
/** The Provenance search parameter whose index rows hold `Provenance.target`. */
const TARGET_PARAM = 'target';

/** `alias`'s version as of the instant in placeholder `asOf`, deleted ones left out. */
function versionAsOf(alias: string, asOf: string): string[] {
  return [
    `NOT ${alias}.deleted`,
    `${alias}.last_updated <= ${asOf}`,
    `(${alias}.superseded_at IS NULL OR ${alias}.superseded_at > ${asOf})`,
  ];
}

const COLUMNS = 'seq, type, id, version, last_updated, deleted, content, patient_ids';

function toStored(row: ResourceRow): StoredResource {
  return {
    seq: row.seq,
    type: row.type,
    id: row.id,
    versionId: row.version,
    lastUpdated: row.last_updated,
    deleted: row.deleted,
    content: row.content,
    patientIds: row.patient_ids,
  };
}

/** The stored JSON: resourceType, id and meta first, then the rest as the client sent it. */
function serialize(
  resource: FhirResource,
  id: string,
  versionId: number,
  lastUpdated: Date,
): string {
  const { resourceType, meta, ...rest } = resource;
  delete rest.id;
  return JSON.stringify({
    resourceType,
    id,
    meta: { ...meta, versionId: String(versionId), lastUpdated: lastUpdated.toISOString() },
    ...rest,
  });
}

function checkVersion(
  type: string,
  id: string,
  current: StoredResource | null,
  condition?: VersionCondition,
): void {
  if (condition?.ifMatch === undefined) return;
  if (!current) {
    throw new FhirException(
      FhirErrorCode.PreconditionFailed,
      `If-Match W/"${condition.ifMatch}" given but ${type}/${id} does not exist`,
    );
  }
  if (current.versionId !== condition.ifMatch) {
    throw new FhirException(
      FhirErrorCode.PreconditionFailed,
      `If-Match W/"${condition.ifMatch}" does not match the current version W/"${current.versionId}" of ${type}/${id}`,
    );
  }
}

/** Index rows held before a write this many are flushed early, bounding a session's memory. */
const INDEX_FLUSH_ROWS = 20_000;

/** Versions per INSERT statement: a patient's Bundle in one, a heavy-tail one in a few. */
const INSERT_CHUNK_ROWS = 1_000;

/** A version about to be inserted. */
interface NewVersion {
  type: string;
  id: string;
  versionId: number;
  resource: FhirResource;
  lastUpdated: Date;
}

class PostgresResourceSession implements ResourceSession {
  private clock?: Date;
  private readonly index = new SearchIndexBatch();

  constructor(
    private readonly runner: QueryRunner,
    private readonly compartment: PatientCompartment,
    private readonly indexer: SearchIndexer,
  ) {}

  /** Writes the search index rows of the versions written so far, in this transaction. */
  async flushIndex(): Promise<void> {
    await this.index.flush((sql, params) => this.runner.query(sql, params));
  }

  /** One write clock per transaction, read after the transaction id is assigned. */
  private async now(): Promise<Date> {
    if (!this.clock) {
      const [row] = (await this.runner.query('SELECT fhir_write_clock() AS now')) as {
        now: Date;
      }[];
      this.clock = row.now;
    }
    return this.clock;
  }

  private async lock(type: string, id: string): Promise<void> {
    await this.runner.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `${type}/${id}`,
    ]);
  }

  async read(type: string, id: string): Promise<StoredResource | null> {
    const rows = (await this.runner.query(
      `SELECT ${COLUMNS} FROM resource WHERE type = $1 AND id = $2 AND superseded_at IS NULL`,
      [type, id],
    )) as ResourceRow[];
    return rows.length ? toStored(rows[0]) : null;
  }

  async findByIdentifier(
    type: string,
    identifier: IdentifierCondition,
    options: { lock?: boolean } = {},
  ): Promise<StoredResource[]> {
    if (options.lock) {
      await this.runner.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `${type}?identifier=${identifier.system ?? ''}|${identifier.value}`,
      ]);
    }
    // Containment on the parsed JSON: a scan of the type's current rows, acceptable for the
    // shared reference types (Practitioner, Organization, Location) loaders point at.
    const element = identifier.system
      ? { system: identifier.system, value: identifier.value }
      : { value: identifier.value };
    const rows = (await this.runner.query(
      `SELECT ${COLUMNS} FROM resource
       WHERE type = $1 AND superseded_at IS NULL AND NOT deleted
         AND content::jsonb @> $2::jsonb
       ORDER BY seq`,
      [type, JSON.stringify({ identifier: [element] })],
    )) as ResourceRow[];
    const found = rows.map(toStored);
    if (identifier.system !== '') return found;
    // `|value` means an identifier without a system.
    return found.filter((stored) =>
      (
        JSON.parse(stored.content ?? '{}') as { identifier?: { system?: string; value?: string }[] }
      ).identifier?.some((i) => i.value === identifier.value && i.system === undefined),
    );
  }

  async create(resource: FhirResource, options: { id?: string } = {}): Promise<StoredResource> {
    const [stored] = await this.createMany([{ resource, id: options.id }]);
    return stored;
  }

  async createMany(resources: readonly NewResource[]): Promise<StoredResource[]> {
    // Server-assigned ids are fresh UUIDs, so there is no current version to lock or read.
    const lastUpdated = await this.now();
    return this.insert(
      resources.map(({ resource, id }) => ({
        type: resource.resourceType,
        id: id ?? randomUUID(),
        versionId: 1,
        resource,
        lastUpdated,
      })),
    );
  }

  async update(
    type: string,
    id: string,
    resource: FhirResource,
    condition?: VersionCondition,
  ): Promise<WriteResult> {
    await this.lock(type, id);
    const current = await this.read(type, id);
    checkVersion(type, id, current, condition);
    const lastUpdated = await this.versionClock(current);
    if (current) await this.supersede(current, lastUpdated);
    const [stored] = await this.insert([
      { type, id, versionId: (current?.versionId ?? 0) + 1, resource, lastUpdated },
    ]);
    return { stored, created: !current || current.deleted };
  }

  async delete(
    type: string,
    id: string,
    condition?: VersionCondition,
  ): Promise<StoredResource | null> {
    await this.lock(type, id);
    const current = await this.read(type, id);
    checkVersion(type, id, current, condition);
    if (!current || current.deleted) return null;
    const lastUpdated = await this.versionClock(current);
    await this.supersede(current, lastUpdated);
    const rows = (await this.runner.query(
      `INSERT INTO resource (type, id, version, last_updated, deleted, content, patient_ids)
       VALUES ($1, $2, $3, $4, true, NULL, $5) RETURNING ${COLUMNS}`,
      [type, id, current.versionId + 1, lastUpdated, current.patientIds],
    )) as ResourceRow[];
    return toStored(rows[0]);
  }

  /**
   * A new version is never stamped before the one it replaces, even when another
   * transaction that read the clock later committed first.
   */
  private async versionClock(current: StoredResource | null): Promise<Date> {
    const now = await this.now();
    return current && current.lastUpdated > now ? current.lastUpdated : now;
  }

  private async supersede(current: StoredResource, at: Date): Promise<void> {
    await this.runner.query('UPDATE resource SET superseded_at = $1 WHERE seq = $2', [
      at,
      current.seq,
    ]);
  }

  /**
   * Inserts versions with one multi-row statement per {@link INSERT_CHUNK_ROWS}, then collects
   * their index rows under the seqs the statement returned.
   */
  private async insert(versions: readonly NewVersion[]): Promise<StoredResource[]> {
    const stored: StoredResource[] = [];
    for (let start = 0; start < versions.length; start += INSERT_CHUNK_ROWS) {
      const chunk = versions.slice(start, start + INSERT_CHUNK_ROWS).map((v) => ({
        ...v,
        content: serialize(v.resource, v.id, v.versionId, v.lastUpdated),
        patientIds: this.compartment.patientIdsOf({ ...v.resource, id: v.id }),
      }));
      // A text[] per row cannot travel in a (rectangular) 2-D array: each row's patient ids go
      // as a JSON array. WITH ORDINALITY keeps seqs in the callers' order.
      const rows = (await this.runner.query(
        `INSERT INTO resource (type, id, version, last_updated, content, patient_ids)
         SELECT type, id, version, last_updated, content,
                ARRAY(SELECT jsonb_array_elements_text(patient_ids::jsonb))
         FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::text[])
              WITH ORDINALITY AS v(type, id, version, last_updated, content, patient_ids, n)
         ORDER BY n
         RETURNING seq, type, id`,
        [
          chunk.map((v) => v.type),
          chunk.map((v) => v.id),
          chunk.map((v) => v.versionId),
          chunk.map((v) => v.lastUpdated.toISOString()),
          chunk.map((v) => v.content),
          chunk.map((v) => JSON.stringify(v.patientIds)),
        ],
      )) as { seq: string; type: string; id: string }[];
      // RETURNING promises no order; (type, id) is unique among new versions.
      const seqs = new Map(rows.map((row) => [`${row.type}/${row.id}`, row.seq]));
      for (const v of chunk) {
        const seq = seqs.get(`${v.type}/${v.id}`)!;
        if (this.index.size >= INDEX_FLUSH_ROWS) await this.flushIndex();
        this.indexer.extract({ ...v.resource, id: v.id }, seq, this.index);
        stored.push({
          seq,
          type: v.type,
          id: v.id,
          versionId: v.versionId,
          lastUpdated: v.lastUpdated,
          deleted: false,
          content: v.content,
          patientIds: v.patientIds,
        });
      }
    }
    return stored;
  }
}

/** {@link ResourceRepository} on PostgreSQL through TypeORM's connection pool. */
@Injectable()
export class PostgresResourceRepository extends ResourceRepository {
  private readonly indexer: SearchIndexer;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly compartment: PatientCompartment,
    private readonly definitions: FhirDefinitions,
  ) {
    super();
    this.indexer = new SearchIndexer(definitions);
  }

  async read(type: string, id: string): Promise<StoredResource | null> {
    const rows = await this.dataSource.query<ResourceRow[]>(
      `SELECT ${COLUMNS} FROM resource WHERE type = $1 AND id = $2 AND superseded_at IS NULL`,
      [type, id],
    );
    return rows.length ? toStored(rows[0]) : null;
  }

  async vread(type: string, id: string, versionId: number): Promise<StoredResource | null> {
    const rows = await this.dataSource.query<ResourceRow[]>(
      `SELECT ${COLUMNS} FROM resource WHERE type = $1 AND id = $2 AND version = $3`,
      [type, id, versionId],
    );
    return rows.length ? toStored(rows[0]) : null;
  }

  async history(
    type: string,
    id: string,
    options: { count: number; beforeVersion?: number },
  ): Promise<StoredResource[]> {
    const rows = await this.dataSource.query<ResourceRow[]>(
      `SELECT ${COLUMNS} FROM resource
       WHERE type = $1 AND id = $2 AND version < $3
       ORDER BY version DESC LIMIT $4`,
      [type, id, options.beforeVersion ?? 2_147_483_647, options.count],
    );
    return rows.map(toStored);
  }

  async inTransaction<T>(work: (session: ResourceSession) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction('READ COMMITTED');
      const session = new PostgresResourceSession(runner, this.compartment, this.indexer);
      const result = await work(session);
      await session.flushIndex();
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
  }

  async exportPage(query: ExportPageQuery): Promise<ExportRow[]> {
    const { sql, values } = this.exportPageSql(query);
    return await this.dataSource.query<ExportRow[]>(sql, values);
  }

  async exportPageNdjson(query: ExportPageQuery): Promise<NdjsonPage> {
    // COPY takes no bind parameters, so its values end up in the statement text, which
    // PostgreSQL may log (on an error) and keep in pg_stat_activity and pg_stat_statements.
    // Only pages whose values identify nobody (type, instants, cursor) go that way; pages
    // filtered by patient ids, excluded ids or _typeFilter search values read rows.
    if (query.patientIds || query.excludeIds || query.typeFilters?.length) {
      return ndjsonFromRows(await this.exportPage(query));
    }
    const { sql, values } = this.exportPageSql(query);
    const runner = this.dataSource.createQueryRunner();
    try {
      return await copyNdjsonPage((await runner.connect()) as PoolClient, sql, values);
    } finally {
      await runner.release();
    }
  }

  private exportPageSql(query: ExportPageQuery): { sql: string; values: unknown[] } {
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

  async exportCount(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): Promise<number> {
    const { where, params } = this.exportFilter(query);
    const [row] = await this.dataSource.query<{ n: string }[]>(
      `SELECT count(*)::bigint AS n FROM resource r WHERE ${where}`,
      params.values,
    );
    return Number(row.n);
  }

  async exportCounts(
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

  async search(query: SearchPageQuery): Promise<SearchRow[]> {
    const { search, after } = query;
    const params = new SqlParams();
    const where = this.searchFilter(search, params);
    const sort = search.sort;
    const direction = sort?.descending ? 'DESC' : 'ASC';
    const column =
      sort?.key === '_lastUpdated' ? 'r.last_updated' : sort?.key === '_id' ? 'r.id' : undefined;
    if (after) {
      const op = sort?.descending ? '<' : '>';
      const seq = `${params.add(after.seq)}::bigint`;
      if (column === undefined) where.push(`r.seq ${op} ${seq}`);
      else {
        const value =
          sort?.key === '_lastUpdated'
            ? `${params.add(after.lastUpdated)}::timestamptz`
            : params.add(after.id);
        where.push(`(${column}, r.seq) ${op} (${value}, ${seq})`);
      }
    }
    const order =
      column === undefined ? `r.seq ${direction}` : `${column} ${direction}, r.seq ${direction}`;
    const rows = await this.dataSource.query<
      { seq: string; id: string; last_updated: Date; content: string }[]
    >(
      `SELECT r.seq, r.id, r.last_updated, r.content FROM resource r WHERE ${where.join(' AND ')}
       ORDER BY ${order} LIMIT ${params.add(query.limit)}`,
      params.values,
    );
    return rows.map((row) => ({
      seq: row.seq,
      id: row.id,
      lastUpdated: row.last_updated,
      content: row.content,
    }));
  }

  async searchCount(search: ParsedSearch): Promise<number> {
    const params = new SqlParams();
    const where = this.searchFilter(search, params);
    const [row] = await this.dataSource.query<{ n: string }[]>(
      `SELECT count(*)::bigint AS n FROM resource r WHERE ${where.join(' AND ')}`,
      params.values,
    );
    return Number(row.n);
  }

  private searchFilter(search: ParsedSearch, params: SqlParams): string[] {
    return [
      `r.type = ${params.add(search.type)}`,
      versionScopeSql('r', {}),
      ...searchConditionsSql(search, 'r', params, {}).map((c) => `(${c})`),
    ];
  }

  /** The rows of one type as they were at transactionTime, deleted ones left out. */
  private exportFilter(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): {
    where: string;
    params: SqlParams;
  } {
    const params = new SqlParams([query.type, query.transactionTime]);
    // Another type's ids leave nothing of this type out.
    const excludeIds = query.excludeIds?.type === query.type ? query.excludeIds : undefined;
    const where = [
      'r.type = ANY(ARRAY[$1::text])',
      ...this.sharedExportConditions('r', { ...query, excludeIds }, params, '$2'),
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
   * compartment, and, last, the exclusion (absent when there is none).
   */
  private sharedExportConditions(
    alias: string,
    query: Omit<ExportPageQuery, 'type' | 'afterSeq' | 'limit' | 'typeFilters'>,
    params: SqlParams,
    asOf: string,
  ): string[] {
    const where = versionAsOf(alias, asOf);
    if (query.since) where.push(`${alias}.last_updated > ${params.add(query.since)}`);
    if (query.until) where.push(`${alias}.last_updated <= ${params.add(query.until)}`);
    if (query.patientIds) {
      where.push(`${alias}.patient_ids && ${params.add(query.patientIds)}::text[]`);
    } else if (query.anyPatientCompartment) {
      where.push(`${alias}.patient_ids <> '{}'`);
    }
    if (query.excludeIds) {
      where.push(
        `NOT (${alias}.type = ${params.add(query.excludeIds.type)} AND ` +
          `${alias}.id = ANY(${params.add(query.excludeIds.ids)}::text[]))`,
      );
    }
    return where;
  }

  /**
   * The Provenance rows of {@link ResourceRepository.provenancePage}: Provenance versions as
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
    const where = ['p.type = $1', ...versionAsOf('p', asOf)];
    const selected: string[] = [];
    if (query.own) {
      const excludeIds = query.excludeIds?.type === PROVENANCE ? query.excludeIds : undefined;
      const own = this.sharedExportConditions('p', { ...query, excludeIds }, params, asOf);
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
               AND q.type = ${provenance} AND ${versionAsOf('q', asOf).join(' AND ')}
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
      parseSearchQuery(type, f.query, this.definitions, { lenient: true, context: 'filter' }),
    );
  }
}
