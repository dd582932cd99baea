import { parseLocalReference } from '../fhir/local-reference';

/**
 * Value conversions shared by index extraction and query parsing, so that what is written
 * and what is searched are normalised the same way (FHIR R4 search.html, per parameter type).
 */

/** Lower case, accents removed, whitespace collapsed: the form string search compares. */
export function normalizeString(value: string): string {
  return value
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

/** A half-open instant range `[low, high)`; `-infinity`/`infinity` for open ends. */
export interface DateRange {
  low: string;
  high: string;
}

const NEG_INFINITY = '-infinity';
const INFINITY = 'infinity';

const FHIR_DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The range a FHIR date, dateTime or instant covers at its precision: `2020` is the whole
 * year, `2020-03-04T10:00:00Z` one second. Without a zone the value is taken as UTC. Returns
 * undefined for anything that is not such a value.
 */
export function dateRange(value: string): DateRange | undefined {
  const m = FHIR_DATE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? 0 : Number(mo) - 1;
  const day = d === undefined ? 1 : Number(d);
  if (h === undefined) {
    const low = utc(year, month, day);
    if (low === undefined) return undefined;
    const high =
      mo === undefined
        ? utcUnchecked(year + 1, 0, 1)
        : d === undefined
          ? utcUnchecked(year, month + 1, 1)
          : utcUnchecked(year, month, day + 1);
    return { low: iso(low), high: iso(high) };
  }
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  // A leap second (:60) is the last instant of its minute.
  const second = s === undefined ? 0 : Math.min(Number(s), 59);
  const local = utc(year, month, day, Number(h), Number(mi), second, ms);
  if (local === undefined) return undefined;
  const base = local - zoneOffsetMs(zone);
  const step = s === undefined ? 60_000 : frac === undefined ? 1000 : 1;
  return { low: iso(base), high: iso(base + step) };
}

/** Epoch ms of a calendar instant; undefined unless every field is in range (no rollover). */
function utc(
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
  ms = 0,
): number | undefined {
  if (hour > 23 || minute > 59) return undefined;
  const t = utcUnchecked(year, month, day, hour, minute, second, ms);
  const back = new Date(t);
  return back.getUTCFullYear() === year && back.getUTCMonth() === month && back.getUTCDate() === day
    ? t
    : undefined;
}

/** Like Date.UTC, but years 0–99 are years 0–99 (Date.UTC maps them to 1900–1999). */
function utcUnchecked(
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
  ms = 0,
): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime();
}

function zoneOffsetMs(zone: string | undefined): number {
  if (!zone || zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const [hh, mm] = zone.slice(1).split(':').map(Number);
  return sign * (hh * 60 + mm) * 60_000;
}

const YEAR_10000 = utcUnchecked(10000, 0, 1);
const YEAR_1 = utcUnchecked(1, 0, 1);

/**
 * ISO text PostgreSQL accepts. FHIR years stop at 9999, so a range ending past it (the day
 * after 9999-12-31, which open-ended data often uses) is open: `infinity`.
 */
function iso(ms: number): string {
  if (ms >= YEAR_10000) return INFINITY;
  if (ms < YEAR_1) return NEG_INFINITY;
  return new Date(ms).toISOString();
}

/** A Period's range: from its start's low to its end's high, open where an end is missing. */
export function periodRange(period: { start?: unknown; end?: unknown }): DateRange | undefined {
  const start = typeof period.start === 'string' ? dateRange(period.start) : undefined;
  const end = typeof period.end === 'string' ? dateRange(period.end) : undefined;
  if (!start && !end) return undefined;
  return { low: start?.low ?? NEG_INFINITY, high: end?.high ?? INFINITY };
}

/** A parsed `Reference.reference`: local targets by type and id; anything else by URL. */
export interface ParsedReference {
  targetType?: string;
  targetId?: string;
  url?: string;
}

/** Parses a reference string; contained (`#id`) references yield undefined. */
export function parseReference(reference: string): ParsedReference | undefined {
  if (reference === '' || reference.startsWith('#')) return undefined;
  const local = parseLocalReference(reference);
  if (local) {
    return {
      targetType: local.type,
      targetId: local.id,
      ...(local.absolute ? { url: reference } : {}),
    };
  }
  return { url: reference };
}

const DECIMAL = /^[+-]?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * A search number with its implied precision (search.html#number): `100` stands for
 * [99.5, 100.5), `100.0` for [99.95, 100.05). `half` is half the last significant digit.
 */
export function parseDecimal(value: string): { value: string; half: string } | undefined {
  const m = DECIMAL.exec(value);
  if (!m) return undefined;
  const decimals = (m[2]?.length ?? 0) - (m[3] ? Number(m[3]) : 0);
  return { value, half: `5e${-(decimals + 1)}` };
}
