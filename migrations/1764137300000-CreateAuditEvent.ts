import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit log of SMART Backend Services authorization: one row per token issued or refused,
 * export kick-off, status read, cancel and file download (who, which job, what, the HTTP status
 * answered, when, from where). No PHI: ids, resource type names and our own messages only.
 *
 * Append-only in the database, not just by convention: the application connects with the role
 * that owns the table, so a grant could not keep it from rewriting its own audit; triggers
 * refuse UPDATE, DELETE and TRUNCATE for every role. A superuser can still disable or drop the
 * triggers: this guards against the application and its bugs, not against the DBA.
 */
export class CreateAuditEvent1764137300000 implements MigrationInterface {
  name = 'CreateAuditEvent1764137300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_event (
        id             bigint      GENERATED ALWAYS AS IDENTITY,
        at             timestamptz NOT NULL DEFAULT now(),
        action         text        NOT NULL,
        client_id      text,
        export_id      uuid,
        types          text[],
        outcome        integer     NOT NULL,
        detail         text,
        remote_address text,
        CONSTRAINT pk_audit_event PRIMARY KEY (id)
      )`);
    // Operators read newest first (id descending), by client, by export or from a time on.
    await q.query(`CREATE INDEX ix_audit_event_client ON audit_event (client_id, id)`);
    await q.query(`
      CREATE INDEX ix_audit_event_export ON audit_event (export_id, id)
        WHERE export_id IS NOT NULL`);
    await q.query(`CREATE INDEX ix_audit_event_at ON audit_event (at)`);
    await q.query(`
      CREATE FUNCTION audit_event_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    // Statement level, so that TRUNCATE (which fires no row triggers) is refused too, and an
    // UPDATE or DELETE is refused even when it matches no row.
    await q.query(`
      CREATE TRIGGER tr_audit_event_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event
        FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_event`);
    await q.query(`DROP FUNCTION audit_event_append_only()`);
  }
}
