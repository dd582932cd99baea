import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The retention purge selects finished exports by age (`finished_at`, oldest first) in batches:
 * a partial index holds just those rows, in that order.
 */
export class IndexExportJobRetention1764137100000 implements MigrationInterface {
  name = 'IndexExportJobRetention1764137100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE INDEX ix_export_job_finished ON export_job (finished_at, id)
        WHERE status IN ('completed', 'failed', 'cancelled')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_export_job_finished`);
  }
}
