/**
 * What the anonymization methods share (FHIR Anonymizer configuration format; see
 * docs/anonymization.md): the operations they record, which become security labels, and the
 * parameters of a configuration they read.
 */

/** What a method did to a resource; each becomes one `meta.security` label (see security-labels). */
export type AnonymizationOperation =
  'REDACT' | 'ABSTRACT' | 'CRYPTOHASH' | 'ENCRYPT' | 'PERTURB' | 'SUBSTITUTE' | 'GENERALIZE';

/** A FHIR primitive value as it appears in JSON. */
export type PrimitiveValue = string | number | boolean;

/** The result of a method on one primitive: the new value (undefined: removed) and what it did. */
export interface PrimitiveResult {
  value: PrimitiveValue | undefined;
  /** Undefined when the method left the value alone and records nothing. */
  operation?: AnonymizationOperation;
}

/** The redaction switches of a configuration's `parameters`. */
export interface RedactParameters {
  enablePartialAgesForRedact: boolean;
  enablePartialDatesForRedact: boolean;
  enablePartialZipCodesForRedact: boolean;
  /** 3-digit zip prefixes whose codes become all zeros. */
  restrictedZipCodeTabulationAreas: readonly string[];
}

/** A FHIR `Coding` as the security labels use it (no system on the PERTURBED family). */
export interface Coding {
  system?: string;
  code: string;
  display: string;
}
