import {
  indicatesAgeOver89,
  redactAgeValue,
  redactDate,
  redactOther,
  redactPostalCode,
} from './redact';

const NOW = new Date('2026-06-01T12:00:00Z');

describe('indicatesAgeOver89', () => {
  it.each([
    ['1925-02-07', true],
    ['1936-05-31', true],
    ['1936-06-01', true], // 90th birthday today
    ['1936-06-02', false], // 89 until tomorrow
    ['1936', true], // month and day default to 1
    ['1936-07', false],
    ['1937-01-01', false],
    ['2015-02-07', false],
    ['1925-02-07T13:28:17-05:00', true],
    ['not a date', false],
  ])('%s on 2026-06-01 → %s', (value, expected) => {
    expect(indicatesAgeOver89(value, NOW)).toBe(expected);
  });

  it('reads now in UTC, whatever the instant means locally', () => {
    // Still 2026-05-31 in UTC although it is June 1st east of Greenwich.
    const now = new Date('2026-05-31T23:30:00Z');
    expect(indicatesAgeOver89('1936-06-01', now)).toBe(false);
    expect(indicatesAgeOver89('1936-05-31', now)).toBe(true);
  });
});

describe('redactDate', () => {
  it.each([
    ['2015', 'date', '2015'],
    ['2015-02', 'date', '2015'],
    ['2015-02-07', 'date', '2015'],
    ['2015-02-07T13:28:17-05:00', 'dateTime', '2015'],
    ['2015-02-07T13:28:17.123Z', 'dateTime', '2015'],
    ['1936-06-02', 'date', '1936'],
    ['1925-02-07', 'date', undefined],
    ['1925-02-07T13:28:17-05:00', 'dateTime', undefined],
    ['1936-06-01', 'date', undefined],
  ] as const)('keeps only the year of %s (%s) with partial dates: %j', (value, kind, expected) => {
    expect(redactDate(value, true, NOW, kind)).toEqual({ value: expected, operation: 'REDACT' });
  });

  it.each([
    ['2015-02-07', 'date'],
    ['2015', 'date'],
    ['2015-02-07T13:28:17-05:00', 'dateTime'],
    ['2015-02-07T13:28:17-05:00', 'instant'],
  ] as const)('removes %s (%s) without partial dates', (value, kind) => {
    expect(redactDate(value, false, NOW, kind)).toEqual({ value: undefined, operation: 'REDACT' });
  });

  it('removes an instant even with partial dates, since a bare year is not an instant', () => {
    // Upstream yields "2015" here, an invalid instant.
    expect(redactDate('2015-02-07T13:28:17-05:00', true, NOW, 'instant')).toEqual({
      value: undefined,
      operation: 'REDACT',
    });
  });

  it('removes a value that is not a date rather than keep it', () => {
    expect(redactDate('07/02/2015', true, NOW, 'date')).toEqual({
      value: undefined,
      operation: 'REDACT',
    });
  });

  it('leaves an empty value alone and records nothing', () => {
    expect(redactDate('', true, NOW, 'date')).toEqual({ value: '' });
  });
});

describe('redactAgeValue', () => {
  it.each([
    [92, undefined],
    [91, undefined],
    [90, undefined],
    [89.5, undefined],
    [89, 89],
    [57, 57],
    [45.5, 45.5],
    [0, 0],
  ])('with partial ages turns %p into %p and records REDACT', (value, expected) => {
    expect(redactAgeValue(value, true)).toEqual({ value: expected, operation: 'REDACT' });
  });

  it.each([92, 89, 57, 45.5])('without partial ages removes %p', (value) => {
    expect(redactAgeValue(value, false)).toEqual({ value: undefined, operation: 'REDACT' });
  });
});

describe('redactPostalCode', () => {
  it.each([
    ['98052', ['203', '556'], '98000'],
    ['10104', ['203', '556'], '10100'],
    ['20301', ['203', '556'], '00000'],
    ['55602', ['203', '556'], '00000'],
    ['98028-1830', ['203', '556'], '98000-0000'],
    ['20301-1830', ['203', '556'], '00000-0000'],
    ['12345', ['123'], '00000'],
    ['54321', ['123'], '54300'],
    ['54321', [], '54300'],
    ['SW1A 1AA', [], 'SW1A 0AA'],
    ['AB1', [], 'AB1'],
    ['12', [], '12'],
    ['1', ['1'], '0'],
    ['123٤٥', [], '12300'],
  ])('with partial zip codes abstracts %j (restricted %j) to %j', (value, restricted, expected) => {
    expect(redactPostalCode(value, true, restricted)).toEqual({
      value: expected,
      operation: 'ABSTRACT',
    });
  });

  it.each(['98052', '20301', '12'])('without partial zip codes removes %j', (value) => {
    expect(redactPostalCode(value, false, ['203'])).toEqual({
      value: undefined,
      operation: 'REDACT',
    });
  });

  it('leaves an empty value alone and records nothing', () => {
    expect(redactPostalCode('', true, ['203'])).toEqual({ value: '' });
  });
});

describe('redactOther', () => {
  it.each(['text', 0, 12.5, false, true])('removes %p', (value) => {
    expect(redactOther(value)).toEqual({ value: undefined, operation: 'REDACT' });
  });

  it('leaves an empty string alone and records nothing', () => {
    expect(redactOther('')).toEqual({ value: '' });
  });
});
