import { dateShiftOffset, shiftDate } from './date-shift';

describe('dateShiftOffset', () => {
  it.each([
    ['', 'dummy', -21],
    ['', '123', 50],
    ['example', '123', 41],
    ['filename', '123', 4],
    ['', '', -50],
    ['698d54f0494528a759f19c8e87a9f99e75a5881b9267ee3926bcf62c992d84ba', '123', -20],
  ])('folds prefix %j and key %j to %i', (prefix, key, offset) => {
    expect(dateShiftOffset(prefix, key)).toBe(offset);
  });

  it('folds UTF-8 bytes, not UTF-16 code units', () => {
    // 'é' is 0xC3 0xA9: 195 % 101 = 94, (94 * 131 + 169) % 101 = 60; the code unit 0xE9 gives -19.
    expect(dateShiftOffset('é', '')).toBe(10);
  });

  it('stays within [-50, 50]', () => {
    for (let i = 0; i < 500; i++) {
      const offset = dateShiftOffset(`id-${i}`, 'key');
      expect(offset).toBeGreaterThanOrEqual(-50);
      expect(offset).toBeLessThanOrEqual(50);
    }
  });
});

describe('shiftDate', () => {
  it.each([
    ['2015-02-07', -21, '2015-01-17'],
    ['2015-02-07T13:28:17-05:00', -21, '2015-01-17T00:00:00-05:00'],
    ['2015-02-07T13:28:17+05:00', -21, '2015-01-17T00:00:00+05:00'],
    ['2015-02-07T13:28:17Z', -21, '2015-01-17T00:00:00Z'],
    ['2015-02-07T13:28:17.12345-05:00', -21, '2015-01-17T00:00:00.00000-05:00'],
    ['2015-02-07T01:01:01+00:00', -21, '2015-01-17T00:00:00+00:00'],
    ['2001-01-01', 50, '2001-02-20'],
    ['2000-01-01', 41, '2000-02-11'],
    ['2001-01-01', 41, '2001-02-11'],
    ['2000-01-01T01:01:01-01:00', 41, '2000-02-11T00:00:00-01:00'],
    ['2000-01-01', -20, '1999-12-12'],
    ['2015-02-07T13:28:47-05:00', 7, '2015-02-14T00:00:00-05:00'],
  ])('shifts %s by %i days to %s (upstream vectors)', (value, offset, expected) => {
    expect(shiftDate(value, offset)).toBe(expected);
  });

  it.each([
    ['2016-02-28', 1, '2016-02-29'],
    ['2015-02-28', 1, '2015-03-01'],
    ['2016-02-29', 1, '2016-03-01'],
    ['2000-02-28', 1, '2000-02-29'],
    ['1900-02-28', 1, '1900-03-01'],
    ['2016-03-01', -1, '2016-02-29'],
    ['2015-12-31', 1, '2016-01-01'],
    ['2016-01-01', -1, '2015-12-31'],
    ['2016-01-31', 30, '2016-03-01'],
    ['2015-06-15', 0, '2015-06-15'],
    ['0001-01-10', -9, '0001-01-01'],
    ['0050-03-01', -1, '0050-02-28'],
  ])('crosses calendar boundaries: %s %+i → %s', (value, offset, expected) => {
    expect(shiftDate(value, offset)).toBe(expected);
  });

  it.each([
    // The calendar date in the value's own offset moves, never the UTC instant.
    ['2015-02-07T23:59:59-12:00', -1, '2015-02-06T00:00:00-12:00'],
    ['2015-02-07T00:30:00+14:00', 1, '2015-02-08T00:00:00+14:00'],
    ['2015-02-07T13:28:17.1Z', 1, '2015-02-08T00:00:00.0Z'],
    ['2015-02-07T13:28:17.123456789Z', 1, '2015-02-08T00:00:00.000000000Z'],
  ])('keeps the zone and precision: %s %+i → %s', (value, offset, expected) => {
    expect(shiftDate(value, offset)).toBe(expected);
  });

  it.each(['2015', '2015-02', '2015-02T10:00:00Z'])(
    'has nothing to shift in %s without a day',
    (value) => {
      expect(shiftDate(value, -21)).toBeUndefined();
    },
  );

  it.each(['', 'today', '2015-02-30', '2015-13-01', '15-02-07', '2015-02-07T25', '2015/02/07'])(
    'does not shift %j, which is not a date',
    (value) => {
      expect(shiftDate(value, 1)).toBeUndefined();
    },
  );

  it('gives up when the year would leave four digits', () => {
    expect(shiftDate('9999-12-31', 1)).toBeUndefined();
    expect(shiftDate('0000-01-01', -1)).toBeUndefined();
  });
});
