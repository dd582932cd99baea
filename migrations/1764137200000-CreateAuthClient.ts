import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The registry of SMART Backend Services clients: each client's keys (an inline JWK Set or a
 * JWKS URL), the scopes it may be granted, the containers it may name in `_container` and its
 * limits. Revoking sets `revoked_at`; the row stays so the client_id is never reused and the
 * tokens issued to it stop working at once.
 */
export class CreateAuthClient1764137200000 implements MigrationInterface {
  name = 'CreateAuthClient1764137200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE auth_client (
        client_id text PRIMARY KEY,
        jwks jsonb,
        jwks_uri text,
        scope text NOT NULL,
        containers text[] NOT NULL DEFAULT '{}',
        max_concurrent_exports integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        CONSTRAINT ck_auth_client_keys CHECK ((jwks IS NULL) <> (jwks_uri IS NULL)),
        CONSTRAINT ck_auth_client_max_exports CHECK (max_concurrent_exports IS NULL OR max_concurrent_exports > 0)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE auth_client`);
  }
}
