import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The resource store. Every version of every resource is one row; the row whose
 * `superseded_at` is NULL is the current version. Rows never move, so `seq` is a stable
 * export cursor, and an export as of a past instant T picks, per resource, the version with
 * `last_updated <= T < coalesce(superseded_at, infinity)`.
 */
export class CreateResourceStore1764136800000 implements MigrationInterface {
  name = 'CreateResourceStore1764136800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE resource (
        seq           bigint GENERATED ALWAYS AS IDENTITY,
        type          text        NOT NULL,
        id            text        NOT NULL,
        version       integer     NOT NULL,
        last_updated  timestamptz NOT NULL,
        superseded_at timestamptz,
        deleted       boolean     NOT NULL DEFAULT false,
        content       text,
        patient_ids   text[]      NOT NULL DEFAULT '{}',
        CONSTRAINT pk_resource PRIMARY KEY (seq),
        CONSTRAINT uq_resource_version UNIQUE (type, id, version),
        CONSTRAINT ck_resource_content CHECK (deleted OR content IS NOT NULL)
      )`);
    await q.query(
      `CREATE UNIQUE INDEX ix_resource_current ON resource (type, id) WHERE superseded_at IS NULL`,
    );
    await q.query(`CREATE INDEX ix_resource_type_seq ON resource (type, seq)`);
    await q.query(`CREATE INDEX ix_resource_patient_ids ON resource USING gin (patient_ids)`);
    // The write clock. The transaction id is assigned before the clock is read, so any
    // write stamped at or before an export's transaction time is either committed or
    // listed as in progress in a snapshot taken after that time (see bulk-export).
    await q.query(`
      CREATE FUNCTION fhir_write_clock() RETURNS timestamptz
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_current_xact_id();
        RETURN date_trunc('milliseconds', clock_timestamp());
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION fhir_write_clock()`);
    await q.query(`DROP TABLE resource`);
  }
}
