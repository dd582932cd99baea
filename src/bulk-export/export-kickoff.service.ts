import { Injectable } from '@nestjs/common';
import {
  EXPORT_PERMISSIONS,
  exportableTypes,
  exportsEveryType,
  requireContainer,
  requirePermission,
} from '../auth/access/access-policy';
import { AccessPrincipal } from '../auth/access/principal';
import { FhirException } from '../common/fhir-exception';
import { FhirDefinitions } from '../fhir/fhir-definitions.service';
import { PatientCompartment } from '../fhir/patient-compartment.service';
import { ResourceRepository } from '../resources/resource.repository';
import { chainedTypes, parseSearchQuery } from '../search/search-query';
import { SearchParameters } from '../search/search-parameters';
import { ExportRequest } from './export-request';
import { AnonymizationConfigurations } from './anonymized/anonymization-configurations.service';
import { KeySealer } from './anonymized/key-sealer.service';
import { jobKeys } from './anonymized/sealed-keys';
import { ExportAnonymization } from './job/export-job.entity';
import { ExportJobService } from './job/export-job.service';

const PROVENANCE = 'Provenance';

/** Bulk Data IG "Bulk Data Kick-off Request": starts (or joins) an export job. */
@Injectable()
export class ExportKickoffService {
  constructor(
    private readonly jobs: ExportJobService,
    private readonly resources: ResourceRepository,
    private readonly definitions: FhirDefinitions,
    private readonly compartment: PatientCompartment,
    private readonly searchParameters: SearchParameters,
    private readonly configurations: AnonymizationConfigurations,
    private readonly keys: KeySealer,
  ) {}

  /**
   * Returns the id of the new job, or of the identical job of the same client still running,
   * and the request as it runs (narrowed to the types the client may read).
   */
  async kickOff(
    request: ExportRequest,
    requestUrl: string,
    principal: AccessPrincipal,
  ): Promise<{ id: string; request: ExportRequest }> {
    let authorized = this.authorize(request, principal);
    if (authorized.level === 'group') await this.assertGroupExists(authorized.groupId ?? '');
    let anonymization: ExportAnonymization | undefined;
    if (authorized.anonymization) {
      const { config, etag } = authorized.anonymization;
      const loaded = await this.configurations.load(config, etag);
      const { parameters } = loaded.parsed.config;
      anonymization = { configuration: loaded.text, keys: this.keys.seal(jobKeys(parameters)) };
      authorized = {
        ...authorized,
        anonymization: { ...authorized.anonymization, version: loaded.etag },
        warnings: [
          ...authorized.warnings,
          ...loaded.parsed.warnings.map((w) => `Anonymization configuration '${config}': ${w}`),
        ],
      };
    }
    const { id } = await this.jobs.kickOff({
      request: authorized,
      requestUrl,
      owner: principal.clientId,
      maxConcurrent: principal.maxConcurrentExports,
      anonymization,
    });
    return { id, request: authorized };
  }

  /**
   * Bulk Data IG, "Authorization": what a client names (`_type`, `_typeFilter`, the Provenance
   * of `includeAssociatedData`, `_container`) must be within its scopes and registration, or
   * the kick-off is refused (403); without `_type` the export narrows to the types its scopes
   * permit and says so in the manifest's error files.
   */
  private authorize(request: ExportRequest, principal: AccessPrincipal): ExportRequest {
    if (request.types) requirePermission(principal, request.types, EXPORT_PERMISSIONS, ['_type']);
    const filtered = [...new Set(request.typeFilters.map((f) => f.type))];
    requirePermission(principal, filtered, EXPORT_PERMISSIONS, ['_typeFilter']);
    // A chain in a filter searches its target type's data.
    requirePermission(principal, this.filterChains(request), ['s'], ['_typeFilter']);
    // The members of a Group are its data: exporting by them needs reading it.
    if (request.level === 'group') requirePermission(principal, ['Group'], ['r']);
    if (request.includeAssociatedData?.length) {
      requirePermission(principal, [PROVENANCE], EXPORT_PERMISSIONS, ['includeAssociatedData']);
    }
    if (request.container !== undefined) requireContainer(principal, request.container);
    if (request.types || exportsEveryType(principal)) return request;

    const covered =
      request.level === 'system'
        ? this.definitions.resourceTypes
        : this.compartment.compartmentTypes;
    const permitted = exportableTypes(principal, covered);
    // No type at all: refused like a `_type` outside the scopes, not an empty export.
    if (permitted.length === 0) requirePermission(principal, covered, EXPORT_PERMISSIONS);
    return {
      ...request,
      types: [...permitted].sort(),
      warnings: [
        ...request.warnings,
        `The access token's scopes permit ${permitted.length} of the ${covered.length} resource ` +
          `types a ${request.level}-level export covers; only those were exported`,
      ],
    };
  }

  private filterChains(request: ExportRequest): string[] {
    const types = request.typeFilters.flatMap((filter) =>
      chainedTypes(
        parseSearchQuery(filter.type, filter.query, this.searchParameters, {
          lenient: request.lenient,
          context: 'filter',
        }),
      ),
    );
    return [...new Set(types)];
  }

  private async assertGroupExists(groupId: string): Promise<void> {
    const group = await this.resources.read('Group', groupId);
    if (!group || group.deleted) throw FhirException.notFound(`Group/${groupId} not found`);
  }
}
