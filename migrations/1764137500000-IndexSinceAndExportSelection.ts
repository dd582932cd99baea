import { MigrationInterface, QueryRunner } from 'typeorm';

const SEARCH_TABLES = ['token', 'string', 'date', 'reference', 'quantity', 'number', 'uri'];

/**
 * Exports that read only what they return, and search tables a replica can follow:
 *
 * - `ix_resource_type_updated` serves `_since`/`_until`: a `_since` export of a few changed
 *   rows, and its count, read those rows instead of the whole type.
 * - `ix_resource_compartment` indexes each row's patients by type, so a Group export's page of
 *   one type reads that type's rows of the members.
 * - `export_selection` holds the Patients a Group or `patient` export covers and the Groups it
 *   leaves out, once per job, instead of binding the id list into every statement.
 * - `export_row` holds, per job and type, the rows a Group, `patient` or `_typeFilter` export
 *   selected with bound parameters; its pages join it, so they read only their own rows, in
 *   order, and no identifying value enters their statement text (they go through COPY).
 * - Search rows get a primary key, (seq, param, ordinal), the ordinal numbering the values one
 *   parameter of one version has; it replaces the (seq, param) index it extends. Logical
 *   replication and distributed PostgreSQL need one.
 */
export class IndexSinceAndExportSelection1764137500000 implements MigrationInterface {
  name = 'IndexSinceAndExportSelection1764137500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX ix_resource_type_updated ON resource (type, last_updated, seq)`);
    // `Type|patientId` for each patient whose compartment holds the row: a page of one type
    // for a set of patients finds that type's rows alone, not every type's.
    await q.query(`
      CREATE FUNCTION resource_compartment_keys(type text, patient_ids text[]) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT array_agg(type || '|' || id) FROM unnest(patient_ids) AS id $$`);
    await q.query(
      `CREATE INDEX ix_resource_compartment ON resource
         USING gin (resource_compartment_keys(type, patient_ids))`,
    );

    await q.query(`
      CREATE TABLE export_selection (
        job_id uuid NOT NULL REFERENCES export_job (id) ON DELETE CASCADE,
        role   text NOT NULL,
        type   text NOT NULL,
        id     text NOT NULL,
        CONSTRAINT pk_export_selection PRIMARY KEY (job_id, role, type, id),
        CONSTRAINT ck_export_selection_role CHECK (role IN ('member', 'excluded'))
      )`);
    await q.query(`
      CREATE TABLE export_row (
        job_id uuid   NOT NULL REFERENCES export_job (id) ON DELETE CASCADE,
        type   text   NOT NULL,
        seq    bigint NOT NULL,
        CONSTRAINT pk_export_row PRIMARY KEY (job_id, type, seq)
      )`);

    for (const table of SEARCH_TABLES) {
      // A constant default fills existing rows without rewriting the table; only the second
      // and later values of one parameter of one version are then numbered.
      await q.query(`ALTER TABLE search_${table} ADD COLUMN ordinal integer NOT NULL DEFAULT 0`);
      await q.query(`
        UPDATE search_${table} s SET ordinal = n.ordinal
        FROM (SELECT ctid, row_number() OVER (PARTITION BY seq, param) - 1 AS ordinal
              FROM search_${table}) n
        WHERE s.ctid = n.ctid AND n.ordinal > 0`);
      // Writers number their rows; a row without an ordinal is a bug, not a 0.
      await q.query(`ALTER TABLE search_${table} ALTER COLUMN ordinal DROP DEFAULT`);
      await q.query(
        `ALTER TABLE search_${table} ADD CONSTRAINT pk_search_${table} PRIMARY KEY (seq, param, ordinal)`,
      );
      await q.query(`DROP INDEX ix_search_${table}_seq`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of SEARCH_TABLES) {
      await q.query(`CREATE INDEX ix_search_${table}_seq ON search_${table} (seq, param)`);
      await q.query(`ALTER TABLE search_${table} DROP CONSTRAINT pk_search_${table}`);
      await q.query(`ALTER TABLE search_${table} DROP COLUMN ordinal`);
    }
    await q.query(`DROP TABLE export_row`);
    await q.query(`DROP TABLE export_selection`);
    await q.query(`DROP INDEX ix_resource_compartment`);
    await q.query(`DROP FUNCTION resource_compartment_keys(text, text[])`);
    await q.query(`DROP INDEX ix_resource_type_updated`);
  }
}
