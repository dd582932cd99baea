import { Injectable } from '@nestjs/common';
import { FhirDefinitions } from '../fhir/fhir-definitions.service';
import {
  addInteractions,
  CapabilityContributor,
  CapabilityStatement,
  restResource,
  serverRest,
} from '../metadata/capability-statement';
import { CapabilityStatementService } from '../metadata/capability-statement.service';
import { SearchParameters } from '../search/search-parameters';

const INSTANCE_INTERACTIONS = [
  'read',
  'vread',
  'update',
  'delete',
  'history-instance',
  'create',
  'search-type',
];

/**
 * Declares in the CapabilityStatement what {@link ResourceController}, the Bundle endpoint and
 * type-level search serve, with each type's search parameters (CapabilityStatement.rest.resource
 * .searchParam): those of the R4 definitions the index evaluates, composite and special ones left
 * out. Conditional create is limited to an `identifier` search.
 */
@Injectable()
export class ResourceCapabilities implements CapabilityContributor {
  constructor(
    private readonly definitions: FhirDefinitions,
    private readonly searchParameters: SearchParameters,
    capabilities: CapabilityStatementService,
  ) {
    capabilities.register(this);
  }

  contribute(statement: CapabilityStatement): void {
    for (const type of this.definitions.resourceTypes) {
      const resource = restResource(statement, type);
      resource.profile ??= `http://hl7.org/fhir/StructureDefinition/${type}`;
      addInteractions(resource.interaction, INSTANCE_INTERACTIONS);
      resource.versioning = 'versioned-update';
      resource.readHistory = true;
      resource.updateCreate = true;
      resource.conditionalCreate = true;
      resource.conditionalUpdate = false;
      resource.conditionalDelete = 'not-supported';
      resource.searchParam = this.searchParameters
        .supported(type)
        .map(({ code, type: paramType, url }) => ({
          name: code,
          type: paramType,
          definition: url,
        }));
    }
    addInteractions(serverRest(statement).interaction, ['transaction', 'batch']);
  }
}
