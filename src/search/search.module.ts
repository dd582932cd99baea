import { Module } from '@nestjs/common';
import { PostgresSearchRepository } from './postgres-search.repository';
import { SearchIndexer } from './search-indexer';
import { SearchParametersModule } from './search-parameters.module';
import { SearchController } from './search.controller';
import { SearchRepository } from './search.repository';
import { SearchService } from './search.service';

/**
 * FHIR search: the supported parameters, the index rows each stored version gets (written by
 * the resource store), and type-level search over them (`GET /{type}`, `POST /{type}/_search`).
 */
@Module({
  imports: [SearchParametersModule],
  controllers: [SearchController],
  providers: [
    SearchIndexer,
    { provide: SearchRepository, useClass: PostgresSearchRepository },
    SearchService,
  ],
  exports: [SearchParametersModule, SearchIndexer],
})
export class SearchModule {}
