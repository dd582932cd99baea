import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The search index (FHIR R4 search.html), one table per search parameter type. Rows belong to
 * one stored version (`seq`), so a search on current versions joins `resource` on
 * `superseded_at IS NULL` and an export as of T uses the same as-of filter as without
 * `_typeFilter`. `type` repeats the resource type so that the value indexes, which lead with
 * (type, param), stay selective for parameter codes shared across types (`code`, `subject`...).
 *
 * No foreign key to `resource`: versions are never deleted, and the check would cost an index
 * probe per value on the bulk insert path of large transaction Bundles.
 */
export class CreateSearchIndex1764137000000 implements MigrationInterface {
  name = 'CreateSearchIndex1764137000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE search_token (
        seq    bigint NOT NULL,
        type   text   NOT NULL,
        param  text   NOT NULL,
        system text,
        code   text,
        text   text
      )`);
    await q.query(`CREATE INDEX ix_search_token_code ON search_token (type, param, code, system)`);
    await q.query(`CREATE INDEX ix_search_token_seq ON search_token (seq, param)`);

    await q.query(`
      CREATE TABLE search_string (
        seq   bigint NOT NULL,
        type  text   NOT NULL,
        param text   NOT NULL,
        value text   NOT NULL,
        norm  text   NOT NULL
      )`);
    // text_pattern_ops so that the default starts-with match (norm LIKE 'abc%') can use it.
    await q.query(
      `CREATE INDEX ix_search_string_norm ON search_string (type, param, norm text_pattern_ops)`,
    );
    await q.query(`CREATE INDEX ix_search_string_seq ON search_string (seq, param)`);

    await q.query(`
      CREATE TABLE search_date (
        seq   bigint      NOT NULL,
        type  text        NOT NULL,
        param text        NOT NULL,
        low   timestamptz NOT NULL,
        high  timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX ix_search_date_range ON search_date (type, param, low, high)`);
    await q.query(`CREATE INDEX ix_search_date_seq ON search_date (seq, param)`);

    await q.query(`
      CREATE TABLE search_reference (
        seq         bigint NOT NULL,
        type        text   NOT NULL,
        param       text   NOT NULL,
        target_type text,
        target_id   text,
        url         text
      )`);
    await q.query(
      `CREATE INDEX ix_search_reference_target ON search_reference (type, param, target_id, target_type)`,
    );
    await q.query(`CREATE INDEX ix_search_reference_seq ON search_reference (seq, param)`);

    await q.query(`
      CREATE TABLE search_quantity (
        seq    bigint  NOT NULL,
        type   text    NOT NULL,
        param  text    NOT NULL,
        value  numeric NOT NULL,
        system text,
        code   text,
        unit   text
      )`);
    await q.query(`CREATE INDEX ix_search_quantity_value ON search_quantity (type, param, value)`);
    await q.query(`CREATE INDEX ix_search_quantity_seq ON search_quantity (seq, param)`);

    await q.query(`
      CREATE TABLE search_number (
        seq   bigint  NOT NULL,
        type  text    NOT NULL,
        param text    NOT NULL,
        value numeric NOT NULL
      )`);
    await q.query(`CREATE INDEX ix_search_number_value ON search_number (type, param, value)`);
    await q.query(`CREATE INDEX ix_search_number_seq ON search_number (seq, param)`);

    await q.query(`
      CREATE TABLE search_uri (
        seq   bigint NOT NULL,
        type  text   NOT NULL,
        param text   NOT NULL,
        value text   NOT NULL
      )`);
    await q.query(
      `CREATE INDEX ix_search_uri_value ON search_uri (type, param, value text_pattern_ops)`,
    );
    await q.query(`CREATE INDEX ix_search_uri_seq ON search_uri (seq, param)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['uri', 'number', 'quantity', 'reference', 'date', 'string', 'token']) {
      await q.query(`DROP TABLE search_${table}`);
    }
  }
}
