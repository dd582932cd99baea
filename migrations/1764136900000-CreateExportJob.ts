import { MigrationInterface, QueryRunner } from 'typeorm';

/** Bulk export jobs: the database row is the truth for status, progress and cancel. */
export class CreateExportJob1764136900000 implements MigrationInterface {
  name = 'CreateExportJob1764136900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE export_job (
        id               uuid        NOT NULL,
        level            text        NOT NULL,
        group_id         text,
        request          jsonb       NOT NULL,
        request_key      text        NOT NULL,
        request_url      text        NOT NULL,
        owner            text        NOT NULL DEFAULT '',
        transaction_time timestamptz NOT NULL,
        snapshot         text        NOT NULL,
        status           text        NOT NULL,
        location         jsonb       NOT NULL,
        checkpoint       jsonb       NOT NULL DEFAULT '{}',
        progress         jsonb       NOT NULL DEFAULT '{}',
        manifest         jsonb,
        error            jsonb,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        started_at       timestamptz,
        finished_at      timestamptz,
        CONSTRAINT pk_export_job PRIMARY KEY (id),
        CONSTRAINT ck_export_job_level CHECK (level IN ('system', 'patient', 'group')),
        CONSTRAINT ck_export_job_status
          CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled'))
      )`);
    // At most one active job per client and normalized request: an identical kick-off
    // while the first is still queued or running joins it instead of starting another.
    await q.query(`
      CREATE UNIQUE INDEX ix_export_job_active_request
        ON export_job (owner, request_key) WHERE status IN ('queued', 'running')`);
    await q.query(`CREATE INDEX ix_export_job_status ON export_job (status, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE export_job`);
  }
}
