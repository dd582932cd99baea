import { Module } from '@nestjs/common';
import { SearchParameters } from './search-parameters';

/** The search parameters this server supports: all that parsing a search or `_typeFilter` needs. */
@Module({
  providers: [SearchParameters],
  exports: [SearchParameters],
})
export class SearchParametersModule {}
