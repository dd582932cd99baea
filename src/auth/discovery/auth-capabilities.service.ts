import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import {
  CapabilityContext,
  CapabilityContributor,
  CapabilityStatement,
  serverRest,
} from '../../metadata/capability-statement';
import { CapabilityStatementService } from '../../metadata/capability-statement.service';
import { tokenUrlOf } from '../auth-paths';

/**
 * Declares SMART on FHIR in the CapabilityStatement's `rest.security` (SMART App Launch,
 * "Conformance"): the `service` code SMART-on-FHIR and the `oauth-uris` extension with the
 * token URL.
 */
@Injectable()
export class AuthCapabilities implements CapabilityContributor {
  constructor(
    capabilities: CapabilityStatementService,
    private readonly config: AppConfig,
  ) {
    capabilities.register(this);
  }

  contribute(statement: CapabilityStatement, context: CapabilityContext): void {
    serverRest(statement).security = {
      extension: [
        {
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'token', valueUri: tokenUrlOf(context.baseUrl) }],
        },
      ],
      service: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
              code: 'SMART-on-FHIR',
              display: 'SMART-on-FHIR',
            },
          ],
          text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
        },
      ],
      description: this.config.AUTH_REQUIRED
        ? 'SMART Backend Services: client credentials with a private_key_jwt assertion (RS384 or ES384) ' +
          'at the token URL; see .well-known/smart-configuration. Every FHIR, search and $export call ' +
          'needs the bearer access token, within its system/ scopes.'
        : 'AUTHORIZATION IS OFF (AUTH_REQUIRED=false): every caller has full access to every record. ' +
          'For local experiments only; never with real patient data.',
    };
  }
}
