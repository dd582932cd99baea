import { Module } from '@nestjs/common';
import { PostgresResourceRepository } from './postgres-resource.repository';
import { ResourceRepository } from './resource.repository';

/** The resource store: repository port bound to PostgreSQL, REST and Bundle endpoints. */
@Module({
  providers: [{ provide: ResourceRepository, useClass: PostgresResourceRepository }],
  exports: [ResourceRepository],
})
export class ResourcesModule {}
