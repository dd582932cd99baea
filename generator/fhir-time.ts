export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const YEAR = 365.25 * DAY;

/**
 * The simulated "today": every record ends here. A constant, never the wall clock, so the same
 * seed gives the same bytes whenever it runs.
 */
export const SIMULATION_END = Date.UTC(2025, 5, 1, 12);

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/**
 * US Eastern offset in minutes, as Synthea's Massachusetts records carry it. Daylight time by
 * month (April to October) rather than by the exact Sunday: the instants stay valid and
 * consistent, which is all a loader or an export cares about.
 */
function easternOffset(ms: number): number {
  const month = new Date(ms).getUTCMonth();
  return month >= 3 && month <= 9 ? -240 : -300;
}

function local(ms: number): { d: Date; suffix: string } {
  const offset = easternOffset(ms);
  const d = new Date(ms + offset * MINUTE);
  const abs = Math.abs(offset);
  return { d, suffix: `-${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}` };
}

function datePart(d: Date): string {
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

/** FHIR dateTime with seconds and offset, e.g. `2010-09-04T12:05:15-04:00`. */
export function dateTime(ms: number): string {
  const { d, suffix } = local(ms);
  return (
    `${datePart(d)}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:` +
    `${pad2(d.getUTCSeconds())}${suffix}`
  );
}

/** FHIR instant with milliseconds, e.g. `2010-09-04T12:05:15.748-04:00`. */
export function instant(ms: number): string {
  const { d, suffix } = local(ms);
  return (
    `${datePart(d)}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:` +
    `${pad2(d.getUTCSeconds())}.${pad3(d.getUTCMilliseconds())}${suffix}`
  );
}

/** FHIR date (local calendar day). */
export function date(ms: number): string {
  return datePart(local(ms).d);
}

export function yearOf(ms: number): number {
  return new Date(ms).getUTCFullYear();
}
