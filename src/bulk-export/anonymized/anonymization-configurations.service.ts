import { Injectable } from '@nestjs/common';
import {
  AnonymizationConfigError,
  MAX_CONFIG_BYTES,
} from '../../anonymization/anonymization-config';
import type { ParsedAnonymizationConfig } from '../../anonymization/anonymization-config';
import { readAnonymizationConfig } from '../../anonymization/read-anonymization-config';
import { FhirException } from '../../common/fhir-exception';
import { ConfigurationNotRead, ExportSink } from '../storage/export-sink';

/** A configuration as read and validated at kick-off. */
export interface LoadedConfiguration {
  text: string;
  etag: string;
  parsed: ParsedAnonymizationConfig;
}

/**
 * Reads an anonymization configuration from the export storage's `anonymization` container
 * (Azure API for FHIR, "Export de-identified data") and validates all of it at kick-off, so a
 * bad one is a 400 naming the rule and the problem, not a job that fails later.
 */
@Injectable()
export class AnonymizationConfigurations {
  constructor(private readonly sink: ExportSink) {}

  async load(name: string, etag: string | undefined): Promise<LoadedConfiguration> {
    let stored;
    try {
      stored = await this.sink.readConfiguration(name, { etag, maxBytes: MAX_CONFIG_BYTES });
    } catch (error) {
      if (!(error instanceof ConfigurationNotRead)) throw error;
      const parameter =
        error.reason === 'etag-mismatch' ? '_anonymizationConfigEtag' : '_anonymizationConfig';
      throw FhirException.badRequest(error.message, [parameter]);
    }
    try {
      const parsed = readAnonymizationConfig(stored.content);
      return { text: stored.content.toString('utf8'), etag: stored.etag, parsed };
    } catch (error) {
      if (!(error instanceof AnonymizationConfigError)) throw error;
      throw FhirException.badRequest(`Anonymization configuration '${name}': ${error.message}`, [
        '_anonymizationConfig',
      ]);
    }
  }
}
