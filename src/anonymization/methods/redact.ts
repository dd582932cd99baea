import { parseFhirDate } from './fhir-date';
import { PrimitiveResult, PrimitiveValue } from './method-types';

const AGE_THRESHOLD = 89;
const POSTAL_CODE_KEPT_CHARACTERS = 3;
// .NET's `\d` matches every Unicode decimal digit, not only ASCII ones.
const DIGIT = /\p{Nd}/gu;

function removed(): PrimitiveResult {
  return { value: undefined, operation: 'REDACT' };
}

/**
 * Whether a date-like value names someone older than 89 on `now` (upstream
 * `IndicateAgeOverThreshold`, docs/anonymization.md §2.2): a missing month or day counts as 1.
 * Upstream reads the local wall clock; this compares `now`'s UTC calendar date so the answer
 * does not depend on the server's time zone. False for a value that is not a date.
 */
export function indicatesAgeOver89(value: string, now: Date): boolean {
  const parts = parseFhirDate(value);
  if (!parts) return false;
  const month = parts.month ?? 1;
  const day = parts.day ?? 1;
  const nowMonth = now.getUTCMonth() + 1;
  const beforeBirthday = nowMonth < month || (nowMonth === month && now.getUTCDate() < day);
  return now.getUTCFullYear() - parts.year - (beforeBirthday ? 1 : 0) > AGE_THRESHOLD;
}

/**
 * Redacts a `date`, `dateTime` or `instant` (docs/anonymization.md §2.2): removed, or with
 * partial dates only its year, removed too past age 89. Always records REDACT; an empty value
 * is left alone and records nothing, as upstream (the same holds for the other string methods).
 *
 * Differences from the reference, on purpose: an `instant` is removed even with partial dates,
 * because a bare year is not a valid instant; a value that does not parse as a date is removed,
 * where upstream's partial redaction left it unchanged.
 */
export function redactDate(
  value: string,
  partial: boolean,
  now: Date,
  kind: 'date' | 'dateTime' | 'instant',
): PrimitiveResult {
  if (value === '') return { value };
  if (!partial || kind === 'instant') return removed();
  const parts = parseFhirDate(value);
  if (!parts || indicatesAgeOver89(value, now)) return removed();
  return { value: value.slice(0, 4), operation: 'REDACT' };
}

/**
 * Redacts the `value` of an `Age` (docs/anonymization.md §2.2): removed, or with partial ages
 * kept up to 89. Always records REDACT, even when the value stays. Compares the number itself,
 * so a decimal age such as 45.5 works where upstream's `int.Parse` threw.
 */
export function redactAgeValue(value: number, partial: boolean): PrimitiveResult {
  return { value: partial && value <= AGE_THRESHOLD ? value : undefined, operation: 'REDACT' };
}

/**
 * Redacts a `postalCode` (docs/anonymization.md §2.2). Without partial zip codes it is removed
 * (REDACT). With them it is abstracted (ABSTRACT): a code starting with a restricted 3-digit
 * area becomes all zeros, any other keeps its first 3 characters and zeroes later digits, and
 * one shorter than 3 characters stays as it is.
 */
export function redactPostalCode(
  value: string,
  partial: boolean,
  restricted: readonly string[],
): PrimitiveResult {
  if (value === '') return { value };
  if (!partial) return removed();
  if (restricted.some((area) => value.startsWith(area))) {
    return { value: value.replace(DIGIT, '0'), operation: 'ABSTRACT' };
  }
  if (value.length < POSTAL_CODE_KEPT_CHARACTERS) return { value, operation: 'ABSTRACT' };
  const kept = value.slice(0, POSTAL_CODE_KEPT_CHARACTERS);
  return {
    value: kept + value.slice(POSTAL_CODE_KEPT_CHARACTERS).replace(DIGIT, '0'),
    operation: 'ABSTRACT',
  };
}

/** Redacts any other primitive: removed, REDACT (docs/anonymization.md §2.2). */
export function redactOther(value: PrimitiveValue): PrimitiveResult {
  return value === '' ? { value } : removed();
}
