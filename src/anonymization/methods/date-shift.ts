import { civilFromDays, daysFromCivil, parseFhirDate } from './fhir-date';

const SEED = 131;
const RANGE = 50;

/**
 * The per-resource shift in days, in [-50, 50], that upstream `DateTimeUtility.GetDateShiftValue`
 * folds from UTF-8(prefix + key) (docs/anonymization.md §2.3). The prefix is the root resource's
 * id at shift time; `dateShiftFixedOffsetInDays` replaces this when configured.
 */
export function dateShiftOffset(prefix: string, key: string): number {
  let offset = 0;
  for (const byte of Buffer.from(prefix + key, 'utf8')) {
    offset = (offset * SEED + byte) % (2 * RANGE + 1);
  }
  return offset - RANGE;
}

/**
 * Moves the calendar date of a `date`, `dateTime` or `instant` by `offsetDays` and zeroes every
 * digit of its time, keeping the fraction length and the zone as written (FHIR Anonymizer
 * `dateShift`, docs/anonymization.md §2.3). The date is shifted in the value's own offset, as
 * upstream's `DateTimeOffset.AddDays` does, so no time-zone conversion happens.
 *
 * Undefined when the value has no day (year or year-month) or is not a date at all, or when the
 * shifted year leaves 0000-9999: the caller then redacts, as upstream does for the first case.
 * The age-over-89 check comes first and is the caller's (`indicatesAgeOver89`).
 */
export function shiftDate(value: string, offsetDays: number): string | undefined {
  const parts = parseFhirDate(value);
  if (parts?.month === undefined || parts.day === undefined) return undefined;
  const shifted = civilFromDays(daysFromCivil(parts.year, parts.month, parts.day) + offsetDays);
  if (shifted.year < 0 || shifted.year > 9999) return undefined;
  const date = `${pad(shifted.year, 4)}-${pad(shifted.month, 2)}-${pad(shifted.day, 2)}`;
  const time = parts.time === undefined ? '' : `T${parts.time.replace(/\d/g, '0')}`;
  return `${date}${time}${parts.zone ?? ''}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
