import { randomBytes } from 'node:crypto';

/** The parameters of a `perturb` rule (docs/anonymization.md §2.7). */
export interface PerturbSettings {
  span: number;
  rangeType: 'fixed' | 'proportional';
  /** Decimal places kept; 0 for the integer types whatever is configured. */
  roundTo: number;
}

/** The numeric primitives perturb applies to; quantities reach it through their `value`. */
export type PerturbType = 'decimal' | 'integer' | 'positiveInt' | 'unsignedInt';

/** A decimal number held exactly: `units / 10^scale`. */
interface ExactDecimal {
  units: bigint;
  scale: number;
}

const DEFAULT_ROUND_TO = 2;
const MAX_ROUND_TO = 28;
// .NET's double-to-decimal conversion keeps 15 significant digits; the noise goes through it.
const NOISE_SIGNIFICANT_DIGITS = 15;
const DECIMAL_TEXT = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i;

/**
 * A uniform random number in [0, 1) with 53 random bits from the system CSPRNG, where upstream
 * used MathNet's non-cryptographic generator.
 */
export function cryptoRandom(): number {
  return Number(randomBytes(8).readBigUInt64BE() >> 11n) / 2 ** 53;
}

/**
 * Adds uniform noise from [-s/2, +s/2], s = span (`fixed`) or |value| × span (`proportional`),
 * then rounds half to even to `roundTo` places as .NET `decimal.Round` does, and clamps a
 * `positiveInt` to at least 1 and an `unsignedInt` to at least 0 (FHIR Anonymizer `perturb`,
 * docs/anonymization.md §2.7). The sum and the rounding are exact decimal arithmetic on the
 * value as written in JSON, so 2.675 rounds to 2.68.
 *
 * Differs from the reference on purpose: a proportional span uses the absolute value, so
 * negative numbers are perturbed where upstream's sampler threw.
 */
export function perturb(
  value: number,
  type: PerturbType,
  settings: PerturbSettings,
  random: () => number = cryptoRandom,
): number {
  const roundTo = type === 'decimal' ? settings.roundTo : 0;
  const span =
    settings.rangeType === 'proportional' ? Math.abs(value) * settings.span : settings.span;
  const noise = -span / 2 + random() * span;
  const sum = add(
    parseDecimal(String(value)),
    parseDecimal(noise.toPrecision(NOISE_SIGNIFICANT_DIGITS)),
  );
  const result = Number(formatDecimal(roundHalfEvenExact(sum, roundTo)));
  if (type === 'positiveInt' && result <= 0) return 1;
  if (type === 'unsignedInt' && result < 0) return 0;
  return result;
}

/** Rounds `value`, read as the decimal JavaScript prints for it, half to even to `places`. */
export function roundHalfEven(value: number, places: number): number {
  return Number(formatDecimal(roundHalfEvenExact(parseDecimal(String(value)), places)));
}

/**
 * Why raw `perturb` parameters are unusable (upstream `PerturbSetting.ValidateRuleSettings`),
 * or undefined: `span` is a number ≥ 0 and required, `rangeType` is `fixed` or `proportional`
 * in any case, `roundTo` an integer from 0 to 28. Upstream also took numeric strings; JSON
 * numbers are required here.
 */
export function perturbSettingsProblem(raw: {
  span?: unknown;
  rangeType?: unknown;
  roundTo?: unknown;
}): string | undefined {
  if (raw.span === undefined) return 'Span value is required in perturb rule.';
  if (typeof raw.span !== 'number' || !Number.isFinite(raw.span) || raw.span < 0) {
    return 'Span value is invalid: expected a number greater than or equal to 0.';
  }
  if (raw.rangeType !== undefined && rangeTypeOf(raw.rangeType) === undefined) {
    return 'RangeType value is invalid: expected "fixed" or "proportional".';
  }
  const roundTo = raw.roundTo;
  if (
    roundTo !== undefined &&
    !(
      typeof roundTo === 'number' &&
      Number.isInteger(roundTo) &&
      roundTo >= 0 &&
      roundTo <= MAX_ROUND_TO
    )
  ) {
    return `RoundTo value is invalid: expected an integer from 0 to ${MAX_ROUND_TO}.`;
  }
  return undefined;
}

/** Raw `perturb` parameters with upstream's defaults (fixed, 2 places); throws on a problem. */
export function parsePerturbSettings(raw: {
  span?: unknown;
  rangeType?: unknown;
  roundTo?: unknown;
}): PerturbSettings {
  const problem = perturbSettingsProblem(raw);
  if (problem !== undefined) throw new Error(problem);
  return {
    span: raw.span as number,
    rangeType: rangeTypeOf(raw.rangeType) ?? 'fixed',
    roundTo: raw.roundTo === undefined ? DEFAULT_ROUND_TO : (raw.roundTo as number),
  };
}

function rangeTypeOf(raw: unknown): PerturbSettings['rangeType'] | undefined {
  if (typeof raw !== 'string') return undefined;
  const lower = raw.toLowerCase();
  return lower === 'fixed' || lower === 'proportional' ? lower : undefined;
}

function parseDecimal(text: string): ExactDecimal {
  const m = DECIMAL_TEXT.exec(text);
  if (!m) throw new Error('perturb needs finite numbers');
  const [, sign, whole, fraction = '', exponent = '0'] = m;
  const units = BigInt(`${sign}${whole}${fraction}`);
  const scale = fraction.length - Number(exponent);
  return scale >= 0 ? { units, scale } : { units: units * 10n ** BigInt(-scale), scale: 0 };
}

function add(a: ExactDecimal, b: ExactDecimal): ExactDecimal {
  const scale = Math.max(a.scale, b.scale);
  return {
    units: a.units * 10n ** BigInt(scale - a.scale) + b.units * 10n ** BigInt(scale - b.scale),
    scale,
  };
}

function roundHalfEvenExact(value: ExactDecimal, places: number): ExactDecimal {
  if (value.scale <= places) return value;
  const divisor = 10n ** BigInt(value.scale - places);
  let quotient = value.units / divisor;
  const twiceRemainder = 2n * (value.units % divisor);
  const direction = value.units < 0n ? -1n : 1n;
  const excess = twiceRemainder * direction - divisor;
  if (excess > 0n || (excess === 0n && quotient % 2n !== 0n)) quotient += direction;
  return { units: quotient, scale: places };
}

function formatDecimal(value: ExactDecimal): string {
  const negative = value.units < 0n;
  const digits = (negative ? -value.units : value.units).toString().padStart(value.scale + 1, '0');
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale);
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}
