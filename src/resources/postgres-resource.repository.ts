import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, QueryRunner } from 'typeorm';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { PatientCompartment } from '../fhir/patient-compartment.service';
import {
  ExportPageQuery,
  ExportRow,
  FhirResource,
  IdentifierCondition,
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

class PostgresResourceSession implements ResourceSession {
  private clock?: Date;

  constructor(
    private readonly runner: QueryRunner,
    private readonly compartment: PatientCompartment,
  ) {}

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
    // Server-assigned ids are fresh UUIDs, so there is no current version to lock or read.
    return this.insert(
      resource.resourceType,
      options.id ?? randomUUID(),
      1,
      resource,
      await this.now(),
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
    const stored = await this.insert(
      type,
      id,
      (current?.versionId ?? 0) + 1,
      resource,
      lastUpdated,
    );
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

  private async insert(
    type: string,
    id: string,
    versionId: number,
    resource: FhirResource,
    lastUpdated: Date,
  ): Promise<StoredResource> {
    const content = serialize(resource, id, versionId, lastUpdated);
    const patientIds = this.compartment.patientIdsOf({ ...resource, id });
    const rows = (await this.runner.query(
      `INSERT INTO resource (type, id, version, last_updated, content, patient_ids)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
      [type, id, versionId, lastUpdated, content, patientIds],
    )) as { seq: string }[];
    return {
      seq: rows[0].seq,
      type,
      id,
      versionId,
      lastUpdated,
      deleted: false,
      content,
      patientIds,
    };
  }
}

/** {@link ResourceRepository} on PostgreSQL through TypeORM's connection pool. */
@Injectable()
export class PostgresResourceRepository extends ResourceRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly compartment: PatientCompartment,
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
      const result = await work(new PostgresResourceSession(runner, this.compartment));
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
    const { where, params } = exportFilter(query);
    params.push(query.afterSeq, query.limit);
    return await this.dataSource.query<ExportRow[]>(
      `SELECT seq, content FROM resource WHERE ${where} AND seq > $${params.length - 1}
       ORDER BY seq LIMIT $${params.length}`,
      params,
    );
  }

  async exportCount(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): Promise<number> {
    const { where, params } = exportFilter(query);
    const [row] = await this.dataSource.query<{ n: string }[]>(
      `SELECT count(*)::bigint AS n FROM resource WHERE ${where}`,
      params,
    );
    return Number(row.n);
  }
}

/** The rows of one type as they were at transactionTime, deleted ones left out. */
function exportFilter(query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): {
  where: string;
  params: unknown[];
} {
  const params: unknown[] = [query.type, query.transactionTime];
  const where = [
    'type = $1',
    'NOT deleted',
    'last_updated <= $2',
    '(superseded_at IS NULL OR superseded_at > $2)',
  ];
  if (query.since) {
    params.push(query.since);
    where.push(`last_updated > $${params.length}`);
  }
  if (query.until) {
    params.push(query.until);
    where.push(`last_updated <= $${params.length}`);
  }
  if (query.patientIds) {
    params.push(query.patientIds);
    where.push(`patient_ids && $${params.length}::text[]`);
  } else if (query.anyPatientCompartment) {
    where.push(`patient_ids <> '{}'`);
  }
  return { where: where.join(' AND '), params };
}
