// FHIR R4 `instant` (datatypes.html#instant), with capture groups added.
const INSTANT =
  /^(([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000))-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.([0-9]+))?(Z|([+-])(0[0-9]|1[0-3]):([0-5][0-9])|([+-])14:00)$/;

export interface ParsedInstant {
  /** Milliseconds since the epoch, sub-millisecond digits dropped. */
  epochMs: number;
  /** True when digits beyond milliseconds were not all zero. */
  subMillisecond: boolean;
  /** `Z` or `±hh:mm` exactly as given. */
  offset: string;
  offsetMinutes: number;
}

/** Parses a FHIR `instant`; undefined when the text is not one or names a day that does not exist. */
export function parseFhirInstant(text: string): ParsedInstant | undefined {
  const m = INSTANT.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[5]);
  const day = Number(m[6]);
  const fraction = m[11] ?? '';
  const offset = m[12];
  let offsetMinutes = 0;
  if (offset !== 'Z') {
    const sign = offset.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  }

  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 onto 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  // A leap second (":60") rolls over into the next minute.
  date.setUTCHours(
    Number(m[7]),
    Number(m[8]),
    Number(m[9]),
    Number(fraction.padEnd(3, '0').slice(0, 3)),
  );
  return {
    epochMs: date.getTime() - offsetMinutes * 60_000,
    subMillisecond: /[1-9]/.test(fraction.slice(3)),
    offset,
    offsetMinutes,
  };
}

/** `YYYY-MM-DDThh:mm:ss.sss` plus the offset, showing `epochMs` in that offset. */
export function formatInstant(epochMs: number, offset: string, offsetMinutes: number): string {
  const local = new Date(epochMs + offsetMinutes * 60_000).toISOString();
  return local.slice(0, -1) + offset;
}
