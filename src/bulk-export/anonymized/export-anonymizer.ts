import { Injectable } from '@nestjs/common';
import {
  AnonymizationEngine,
  AnonymizationProcessingError,
  redactedStub,
} from '../../anonymization/anonymization-engine';
import { readAnonymizationConfig } from '../../anonymization/read-anonymization-config';
import type { ElementType, ElementTypeOf } from '../../anonymization/resource-tree';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { PatientCompartment } from '../../fhir/patient-compartment.service';
import { ResourceValidator } from '../../fhir/resource-validator';
import type { ExportJobEntity, SkippedResource } from '../job/export-job.entity';
import { KeySealer } from './key-sealer.service';
import { SealedKeysError } from './sealed-keys';

/** One resource as the anonymized export writes it. */
export interface AnonymizedLine {
  line: string;
  /** Set when `processingErrors: skip` wrote the redacted stub instead. */
  skipped?: SkippedResource;
}

/**
 * De-identifies one job's resources with the configuration and keys fixed at its kick-off
 * (Azure API for FHIR, "Export de-identified data"): one engine per run, each resource on its
 * own, and what `processingErrors` says when the rules fail on one.
 */
export class JobAnonymizer {
  constructor(
    private readonly engine: AnonymizationEngine,
    private readonly skip: boolean,
    private readonly patientScope: boolean,
    private readonly compartment: PatientCompartment,
  ) {}

  line(content: string): AnonymizedLine {
    const resource = JSON.parse(content) as Record<string, unknown>;
    const type = String(resource.resourceType);
    try {
      const anonymized = this.engine.anonymize(resource, {
        dateShiftPrefix: this.patientScope ? this.patientOf(resource) : undefined,
      });
      return { line: JSON.stringify(anonymized) };
    } catch (error) {
      if (!(error instanceof AnonymizationProcessingError)) throw error;
      const where = `${type}/${String(resource.id)}`;
      if (!this.skip) {
        throw new FhirException(
          FhirErrorCode.Unprocessable,
          `The export stopped: anonymizing ${where} failed at ${error.message} (processingErrors: raise)`,
          { issueType: 'processing' },
        );
      }
      return {
        line: JSON.stringify(redactedStub(type)),
        skipped: { type, id: String(resource.id), reason: error.message },
      };
    }
  }

  /**
   * The patient whose compartment the resource is in, so every date of one patient moves by
   * the same offset; the smallest id when it is in several, the resource's own when in none.
   */
  private patientOf(resource: Record<string, unknown>): string | undefined {
    if (resource.resourceType === 'Patient') return String(resource.id);
    const ids = this.compartment.patientIdsOf(resource as never).sort();
    return ids[0];
  }
}

/** Builds the {@link JobAnonymizer} of an anonymized job. */
@Injectable()
export class ExportAnonymizers {
  private readonly typeOf: ElementTypeOf;

  constructor(
    private readonly keys: KeySealer,
    private readonly definitions: FhirDefinitions,
    private readonly compartment: PatientCompartment,
    validator: ResourceValidator,
  ) {
    // Looked up for every property of every resource: each type's table is fetched once.
    const tables = new Map<string, ReadonlyMap<string, ElementType> | undefined>();
    const tableOf = (type: string) => {
      if (tables.has(type)) return tables.get(type);
      let table: ReadonlyMap<string, ElementType> | undefined;
      try {
        table = validator.rulesOf(type).keys;
      } catch {
        table = undefined; // no R4 table: a type the rules cannot know either
      }
      tables.set(type, table);
      return table;
    };
    this.typeOf = (type, key) => tableOf(type)?.get(key);
  }

  /** Undefined for an export that is not anonymized. */
  forJob(job: ExportJobEntity): JobAnonymizer | undefined {
    if (!job.anonymization) return undefined;
    const { config } = readAnonymizationConfig(job.anonymization.configuration);
    let keys;
    try {
      keys = this.keys.open(job.anonymization.keys);
    } catch (error) {
      if (error instanceof SealedKeysError) {
        throw new FhirException(FhirErrorCode.Internal, error.message, { issueType: 'security' });
      }
      throw error;
    }
    const engine = new AnonymizationEngine(config, keys, {
      typeOf: this.typeOf,
      isResourceType: (type) => this.definitions.isResourceType(type),
      now: () => new Date(),
    });
    return new JobAnonymizer(
      engine,
      config.processingErrors === 'skip',
      config.parameters.dateShiftScope === 'patient',
      this.compartment,
    );
  }
}
