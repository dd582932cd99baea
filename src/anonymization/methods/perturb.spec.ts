import {
  parsePerturbSettings,
  perturb,
  PerturbSettings,
  perturbSettingsProblem,
  PerturbType,
  roundHalfEven,
} from './perturb';

const ALMOST_ONE = 1 - 2 ** -53;
const fixed = (span: number, roundTo = 2): PerturbSettings => ({
  span,
  rangeType: 'fixed',
  roundTo,
});
const proportional = (span: number, roundTo = 2): PerturbSettings => ({
  span,
  rangeType: 'proportional',
  roundTo,
});

// Upstream PerturbProcessorTests ranges; random() 0 and 1-ε hit the two ends, 0.5 the middle.
const RANGES: [string, number, PerturbType, PerturbSettings, number, number, number][] = [
  ['integer 5, span 0', 5, 'integer', fixed(0), 5, 5, 5],
  ['decimal 5.0, span 0', 5.0, 'decimal', fixed(0), 5, 5, 5],
  ['decimal 5.234, fixed 6', 5.234, 'decimal', fixed(6), 2.23, 5.23, 8.23],
  ['decimal 0.12, fixed 2', 0.12, 'decimal', fixed(2), -0.88, 0.12, 1.12],
  ['integer 5, proportional 0.4', 5, 'integer', proportional(0.4), 4, 5, 6],
  ['unsignedInt 10, fixed 40', 10, 'unsignedInt', fixed(40), 0, 10, 30],
  ['positiveInt 1, fixed 200', 1, 'positiveInt', fixed(200), 1, 1, 101],
  [
    'Distance 1024.12345678, fixed 0.00002, round 4',
    1024.12345678,
    'decimal',
    fixed(0.00002, 4),
    1024.1234,
    1024.1235,
    1024.1235,
  ],
  ['Duration 0.0001, fixed 0.00002', 0.0001, 'decimal', fixed(0.00002), 0, 0, 0],
  [
    'Money 7000.12345678, fixed 2000, round 4',
    7000.12345678,
    'decimal',
    fixed(2000, 4),
    6000.1235,
    7000.1235,
    8000.1235,
  ],
  ['Age 20, span 0', 20, 'decimal', fixed(0), 20, 20, 20],
];

describe('perturb', () => {
  it.each(RANGES)(
    '%s: low end, middle and high end of the noise',
    (_label, value, type, settings, low, middle, high) => {
      expect(perturb(value, type, settings, () => 0)).toBe(low);
      expect(perturb(value, type, settings, () => 0.5)).toBe(middle);
      expect(perturb(value, type, settings, () => ALMOST_ONE)).toBe(high);
    },
  );

  it.each(RANGES)(
    '%s: real random noise stays in range',
    (_label, value, type, settings, low, _m, high) => {
      const places = type === 'decimal' ? settings.roundTo : 0;
      for (let i = 0; i < 200; i++) {
        const result = perturb(value, type, settings);
        expect(result).toBeGreaterThanOrEqual(low);
        expect(result).toBeLessThanOrEqual(high);
        expect(roundHalfEven(result, places)).toBe(result);
      }
    },
  );

  it('varies with real random noise', () => {
    const results = new Set(Array.from({ length: 50 }, () => perturb(5.234, 'decimal', fixed(6))));
    expect(results.size).toBeGreaterThan(1);
  });

  it('rounds integer types to whole numbers whatever roundTo says', () => {
    expect(perturb(5, 'integer', fixed(0.5, 2), () => 0.9)).toBe(5);
    expect(perturb(5, 'decimal', fixed(0.5, 2), () => 0.9)).toBe(5.2);
  });

  it('perturbs a negative value proportionally to its magnitude', () => {
    // Upstream's sampler threw here (lower bound above upper bound).
    expect(perturb(-5, 'decimal', proportional(0.4), () => 0)).toBe(-6);
    expect(perturb(-5, 'decimal', proportional(0.4), () => ALMOST_ONE)).toBe(-4);
  });

  it('clamps a positiveInt that would reach 0 to 1 and an unsignedInt below 0 to 0', () => {
    expect(perturb(1, 'positiveInt', fixed(2), () => 0)).toBe(1);
    expect(perturb(1, 'unsignedInt', fixed(4), () => 0)).toBe(0);
    expect(perturb(1, 'integer', fixed(4), () => 0)).toBe(-1);
  });

  it.each([
    [2.675, 2.68],
    [1.015, 1.02],
    [2.665, 2.66],
    [0.125, 0.12],
  ])('rounds %p half to even at two places, exactly: %p', (value, expected) => {
    expect(perturb(value, 'decimal', fixed(0), () => 0.5)).toBe(expected);
  });
});

describe('roundHalfEven', () => {
  it.each([
    [2.675, 2, 2.68],
    [2.665, 2, 2.66],
    [2.685, 2, 2.68],
    [1.005, 2, 1],
    [1.015, 2, 1.02],
    [0.125, 2, 0.12],
    [0.135, 2, 0.14],
    [-2.675, 2, -2.68],
    [-0.125, 2, -0.12],
    [0.5, 0, 0],
    [1.5, 0, 2],
    [2.5, 0, 2],
    [3.5, 0, 4],
    [-2.5, 0, -2],
    [-3.5, 0, -4],
    [-0.5, 0, 0],
    [2.4999, 0, 2],
    [2.5001, 0, 3],
    [1234.5678, 2, 1234.57],
    [1e21, 2, 1e21],
    [1e-7, 2, 0],
    [1.5e-7, 7, 2e-7],
    [123.456, 28, 123.456],
    [42, 2, 42],
  ])('rounds %p to %i places as %p', (value, places, expected) => {
    expect(roundHalfEven(value, places)).toBe(expected);
  });

  it('never produces negative zero', () => {
    expect(Object.is(roundHalfEven(-0.4, 0), 0)).toBe(true);
  });
});

describe('perturbSettingsProblem', () => {
  it.each([
    [{ span: 0 }],
    [{ span: 0.1, rangeType: 'proportional', roundTo: 0 }],
    [{ span: 6, rangeType: 'FIXED', roundTo: 28 }],
    [{ span: 2, rangeType: 'Proportional' }],
  ])('accepts %j', (raw) => {
    expect(perturbSettingsProblem(raw)).toBeUndefined();
  });

  it.each([
    [{}, /Span value is required/],
    [{ span: -1 }, /Span value is invalid/],
    [{ span: '0.1' }, /Span value is invalid/],
    [{ span: null }, /Span value is invalid/],
    [{ span: Number.POSITIVE_INFINITY }, /Span value is invalid/],
    [{ span: 1, rangeType: 'relative' }, /RangeType value is invalid/],
    [{ span: 1, rangeType: 1 }, /RangeType value is invalid/],
    [{ span: 1, roundTo: -1 }, /RoundTo value is invalid/],
    [{ span: 1, roundTo: 29 }, /RoundTo value is invalid/],
    [{ span: 1, roundTo: 1.5 }, /RoundTo value is invalid/],
    [{ span: 1, roundTo: '2' }, /RoundTo value is invalid/],
  ])('rejects %j', (raw, message) => {
    expect(perturbSettingsProblem(raw)).toMatch(message);
  });
});

describe('parsePerturbSettings', () => {
  it('defaults to a fixed range and two places', () => {
    expect(parsePerturbSettings({ span: 3 })).toEqual({ span: 3, rangeType: 'fixed', roundTo: 2 });
  });

  it('normalises the range type to lower case', () => {
    expect(parsePerturbSettings({ span: 3, rangeType: 'PROPORTIONAL', roundTo: 0 })).toEqual({
      span: 3,
      rangeType: 'proportional',
      roundTo: 0,
    });
  });

  it('throws the problem', () => {
    expect(() => parsePerturbSettings({ span: -1 })).toThrow(/Span value is invalid/);
  });
});
