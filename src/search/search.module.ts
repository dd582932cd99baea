import { Module } from '@nestjs/common';
import { ResourcesModule } from '../resources/resources.module';
import { SearchController } from './search.controller';
import { SearchService } from './search.service';

/** FHIR search over the index the resource store writes (`GET /{type}`, `POST /{type}/_search`). */
@Module({
  imports: [ResourcesModule],
  controllers: [SearchController],
  providers: [SearchService],
  exports: [SearchService],
})
export class SearchModule {}
