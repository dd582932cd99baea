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

const INSTANCE_INTERACTIONS = ['read', 'vread', 'update', 'delete', 'history-instance', 'create'];

/**
 * Declares in the CapabilityStatement what {@link ResourceController} and the Bundle endpoint
 * serve. Conditional create is limited to an `identifier` search until the search index exists.
 */
@Injectable()
export class ResourceCapabilities implements CapabilityContributor {
  constructor(
    private readonly definitions: FhirDefinitions,
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
    }
    addInteractions(serverRest(statement).interaction, ['transaction', 'batch']);
  }
}
