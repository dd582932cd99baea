import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, QueryRunner } from 'typeorm';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { PatientCompartment } from '../fhir/patient-compartment.service';
import { SearchIndexBatch } from '../search/search-index-batch';
import { SearchIndexer } from '../search/search-indexer';
import {
  FhirResource,
  IdentifierCondition,
  NewResource,
  ResourceRepository,
  ResourceSession,
  StoredResource,
  VersionCondition,
  WriteResult,
} from './resource.repository';

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
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly compartment: PatientCompartment,
    private readonly indexer: SearchIndexer,
  ) {
    super();
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
}
