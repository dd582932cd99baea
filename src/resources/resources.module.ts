import { Module } from '@nestjs/common';
import { SearchModule } from '../search/search.module';
import { BundleController } from './bundle.controller';
import { BundleService } from './bundle.service';
import { PostgresResourceRepository } from './postgres-resource.repository';
import { ResourceCapabilities } from './resource-capabilities.service';
import { ResourceController } from './resource.controller';
import { ResourceRepository } from './resource.repository';
import { ResourceService } from './resource.service';

/** The resource store: repository port bound to PostgreSQL, REST and Bundle endpoints. */
@Module({
  imports: [SearchModule],
  controllers: [BundleController, ResourceController],
  providers: [
    { provide: ResourceRepository, useClass: PostgresResourceRepository },
    ResourceService,
    BundleService,
    ResourceCapabilities,
  ],
  exports: [ResourceRepository, ResourceService],
})
export class ResourcesModule {}
