import { Injectable } from '@nestjs/common';
import {
  CapabilityContributor,
  CapabilityOperation,
  CapabilityStatement,
  restResource,
  serverRest,
} from '../metadata/capability-statement';
import { CapabilityStatementService } from '../metadata/capability-statement.service';

const BULK_DATA = 'http://hl7.org/fhir/uv/bulkdata';

const PARAMETERS =
  'Supported: _outputFormat (application/fhir+ndjson, application/ndjson, ndjson), _since, ' +
  '_until (alias _till), _type, _container (Azure), patient (POST, Patient and Group level: ' +
  'narrows the export; a patient outside the Group is reported in the error files), ' +
  '_elements (GET and POST, comma list or repeated; element or Type.element, top-level only; ' +
  'id, meta and the mandatory elements are always kept; a resource missing elements carries ' +
  'the SUBSETTED tag; types the list does not name are exported whole). _since filters each ' +
  "resource by its own lastUpdated, also at Patient and Group level, not by its patient's. " +
  'Group members are those active at transactionTime (inactive and member.period honoured, ' +
  'nested Groups expanded); the exported Group and its nested Groups are not in the output, ' +
  "other Groups in the members' compartments are. Each resource is exported once even when " +
  "it is in several patients' compartments. _typeFilter: Type?search, the type's search parameters as in " +
  "searchParam (filters of one type OR-ed, each filter's parameters AND-ed; result " +
  'parameters refused). includeAssociatedData: LatestProvenanceResources (per exported ' +
  'non-Provenance resource, the Provenance targeting it with the greatest lastUpdated, ties ' +
  'all included) and RelevantProvenanceResources (every Provenance targeting an exported ' +
  'non-Provenance resource), as of transactionTime, written to Provenance files once each ' +
  'together with any Provenance exported as a type; _custom values are refused, or skipped ' +
  'with a warning under Prefer: handling=lenient.';

function operation(name: string, definition: string): CapabilityOperation {
  return {
    name,
    definition: `${BULK_DATA}/OperationDefinition/${definition}`,
    documentation: PARAMETERS,
  };
}

/**
 * Declares the Bulk Data Access IG in the CapabilityStatement ("Server Capability
 * Documentation"): `instantiates` the bulk-data CapabilityStatement, and the system, Patient and
 * Group export operations under both their short and canonical names.
 */
@Injectable()
export class ExportCapabilities implements CapabilityContributor {
  constructor(capabilities: CapabilityStatementService) {
    capabilities.register(this);
  }

  contribute(statement: CapabilityStatement): void {
    const instantiates = `${BULK_DATA}/CapabilityStatement/bulk-data`;
    statement.instantiates = [...(statement.instantiates ?? []), instantiates];
    serverRest(statement).operation.push(operation('export', 'export'));
    const patient = restResource(statement, 'Patient');
    patient.operation = [
      ...(patient.operation ?? []),
      operation('export', 'patient-export'),
      operation('patient-export', 'patient-export'),
    ];
    const group = restResource(statement, 'Group');
    group.operation = [
      ...(group.operation ?? []),
      operation('export', 'group-export'),
      operation('group-export', 'group-export'),
    ];
  }
}
