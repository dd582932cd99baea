import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AuthClientEntity } from './auth-client.entity';
import { ClientMetadata } from './client-metadata';

/** A client as the admin API shows it (RFC 7591 3.2.1 names plus our own). */
export interface RegisteredClient extends ClientMetadata {
  token_endpoint_auth_method: 'private_key_jwt';
  grant_types: ['client_credentials'];
  client_id_issued_at: number;
  revoked_at?: string;
}

export type RegisterResult = { created: RegisteredClient } | { conflict: 'active' | 'revoked' };

/** The client registry: the `auth_client` table. */
@Injectable()
export class ClientRegistry {
  constructor(
    @InjectRepository(AuthClientEntity) private readonly clients: Repository<AuthClientEntity>,
  ) {}

  /** Registers a client; a client_id already used, even by a revoked client, is a conflict. */
  async register(metadata: ClientMetadata): Promise<RegisterResult> {
    const result = await this.clients
      .createQueryBuilder()
      .insert()
      .values({
        clientId: metadata.client_id,
        jwks: metadata.jwks ?? null,
        jwksUri: metadata.jwks_uri ?? null,
        scope: metadata.scope,
        containers: metadata.containers,
        maxConcurrentExports: metadata.max_concurrent_exports,
        createdAt: () => 'now()',
      })
      .orIgnore()
      .returning('*')
      .execute();
    if (result.raw && (result.raw as unknown[]).length === 1) {
      const created = await this.clients.findOneByOrFail({ clientId: metadata.client_id });
      return { created: toRegistered(created) };
    }
    const existing = await this.clients.findOneBy({ clientId: metadata.client_id });
    return { conflict: existing?.revokedAt ? 'revoked' : 'active' };
  }

  /** Every client, registered order, revoked ones with their `revoked_at`. */
  async list(): Promise<RegisteredClient[]> {
    const rows = await this.clients.find({ order: { createdAt: 'ASC', clientId: 'ASC' } });
    return rows.map(toRegistered);
  }

  /** Revokes a client at once; false when there is no active client of that id. */
  async revoke(clientId: string): Promise<boolean> {
    const result = await this.clients.update(
      { clientId, revokedAt: IsNull() },
      { revokedAt: () => 'now()' },
    );
    return (result.affected ?? 0) > 0;
  }

  /** The client, revoked or not. */
  async find(clientId: string): Promise<AuthClientEntity | null> {
    return this.clients.findOneBy({ clientId });
  }

  /** The client if it is registered and not revoked. */
  async findActive(clientId: string): Promise<AuthClientEntity | null> {
    return this.clients.findOneBy({ clientId, revokedAt: IsNull() });
  }
}

function toRegistered(row: AuthClientEntity): RegisteredClient {
  return {
    client_id: row.clientId,
    ...(row.jwks ? { jwks: row.jwks } : {}),
    ...(row.jwksUri ? { jwks_uri: row.jwksUri } : {}),
    scope: row.scope,
    containers: row.containers,
    max_concurrent_exports: row.maxConcurrentExports,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    client_id_issued_at: Math.floor(row.createdAt.getTime() / 1000),
    ...(row.revokedAt ? { revoked_at: row.revokedAt.toISOString() } : {}),
  };
}
