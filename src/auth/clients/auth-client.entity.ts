import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { JSONWebKeySet } from '../jose';

/** A registered SMART Backend Services client (table `auth_client`). */
@Entity({ name: 'auth_client' })
export class AuthClientEntity {
  @PrimaryColumn('text', { name: 'client_id' })
  clientId!: string;

  @Column('jsonb', { nullable: true })
  jwks!: JSONWebKeySet | null;

  @Column('text', { name: 'jwks_uri', nullable: true })
  jwksUri!: string | null;

  /** Space-separated scopes the client may be granted. */
  @Column('text')
  scope!: string;

  /** Containers the client may name in `_container`. */
  @Column('text', { array: true })
  containers!: string[];

  @Column('integer', { name: 'max_concurrent_exports', nullable: true })
  maxConcurrentExports!: number | null;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt!: Date | null;
}
