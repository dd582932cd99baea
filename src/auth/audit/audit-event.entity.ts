import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One recorded authorization event (table `audit_event`, append-only). Read through this
 * entity; rows are written by {@link AuditLog.record}, which lets the database number and
 * time them.
 */
@Entity({ name: 'audit_event' })
export class AuditEventEntity {
  /** bigint identity; the driver hands it over as a string so no precision is lost. */
  @PrimaryColumn('bigint')
  id!: string;

  @Column('timestamptz')
  at!: Date;

  @Column('text')
  action!: string;

  @Column('text', { name: 'client_id', nullable: true })
  clientId!: string | null;

  @Column('uuid', { name: 'export_id', nullable: true })
  exportId!: string | null;

  /** Resource types the request named, when it named any. */
  @Column('text', { array: true, nullable: true })
  types!: string[] | null;

  /** The HTTP status answered. */
  @Column('integer')
  outcome!: number;

  @Column('text', { nullable: true })
  detail!: string | null;

  @Column('text', { name: 'remote_address', nullable: true })
  remoteAddress!: string | null;
}
