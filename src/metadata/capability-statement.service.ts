import { Injectable } from '@nestjs/common';
import packageJson from '../../package.json';
import {
  CapabilityContext,
  CapabilityContributor,
  CapabilityStatement,
} from './capability-statement';

const FHIR_VERSION = '4.0.1';

/**
 * Builds the server's CapabilityStatement (FHIR R4 http.html#capabilities) from a fixed core
 * (software, FHIR version, formats) and whatever the registered contributors add.
 */
@Injectable()
export class CapabilityStatementService {
  private readonly contributors: CapabilityContributor[] = [];
  private readonly startedAt = new Date().toISOString();

  register(contributor: CapabilityContributor): void {
    if (!this.contributors.includes(contributor)) this.contributors.push(contributor);
  }

  build(context: CapabilityContext): CapabilityStatement {
    const statement: CapabilityStatement = {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: this.startedAt,
      kind: 'instance',
      software: { name: packageJson.name, version: packageJson.version },
      implementation: { description: packageJson.description, url: context.baseUrl },
      fhirVersion: FHIR_VERSION,
      format: ['application/fhir+json', 'json'],
      rest: [{ mode: 'server', resource: [], interaction: [], operation: [] }],
    };
    for (const contributor of this.contributors) contributor.contribute(statement, context);
    for (const rest of statement.rest) {
      rest.resource.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
      if (rest.operation.length === 0) delete (rest as { operation?: unknown }).operation;
    }
    return statement;
  }
}
