import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What an anonymized export runs with, fixed at kick-off: the configuration text it validated
 * (so every worker and resumed run applies the same rules, whatever later happens to the blob)
 * and its keys, sealed. Null for every other export.
 */
export class AddExportAnonymization1764137400000 implements MigrationInterface {
  name = 'AddExportAnonymization1764137400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_job ADD COLUMN anonymization jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_job DROP COLUMN anonymization`);
  }
}
