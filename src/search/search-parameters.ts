import { Injectable } from '@nestjs/common';
import { FhirDefinitions, SearchParameterDefinition } from '../fhir/fhir-definitions.service';
import { IndexTable } from './search-index-batch';

export type IndexedParamType = IndexTable;

/** Search parameter types with an index table (search.html#ptypes); composite and special have none. */
const INDEXED_TYPES = new Set<string>([
  'token',
  'string',
  'date',
  'reference',
  'quantity',
  'number',
  'uri',
]);

/** Parameters answered from columns of `resource` rather than from index tables. */
const COLUMN_PARAMETERS = new Set(['_id', '_lastUpdated']);

export interface SupportedSearchParameter {
  code: string;
  type: IndexedParamType;
  url: string;
  target?: readonly string[];
}

/**
 * Which of the R4 SearchParameters this server can search by: those of an indexed type with
 * a FHIRPath expression (composite and special ones are left out), plus `_id` and
 * `_lastUpdated`. Parsing a search needs only this, not the indexer that writes the rows.
 */
@Injectable()
export class SearchParameters {
  private readonly supportedByType = new Map<string, readonly SupportedSearchParameter[]>();

  constructor(readonly definitions: FhirDefinitions) {}

  /** What search on `type` can use. */
  supported(type: string): readonly SupportedSearchParameter[] {
    let supported = this.supportedByType.get(type);
    if (!supported) {
      supported = this.definitions
        .searchParameters(type)
        .filter((p) => isSupported(p))
        .map((p) => ({
          code: p.code,
          type: p.type as IndexedParamType,
          url: p.url,
          ...(p.target ? { target: p.target } : {}),
        }));
      this.supportedByType.set(type, supported);
    }
    return supported;
  }

  supportedParameter(type: string, code: string): SupportedSearchParameter | undefined {
    return this.supported(type).find((p) => p.code === code);
  }

  /** The definitions whose values the index tables hold for `type` (the column ones left out). */
  indexed(type: string): SearchParameterDefinition[] {
    return this.definitions
      .searchParameters(type)
      .filter((p) => isSupported(p) && !COLUMN_PARAMETERS.has(p.code));
  }
}

function isSupported(p: SearchParameterDefinition): boolean {
  return INDEXED_TYPES.has(p.type) && (p.expression !== undefined || COLUMN_PARAMETERS.has(p.code));
}
