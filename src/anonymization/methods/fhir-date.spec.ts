import { civilFromDays, daysFromCivil, parseFhirDate } from './fhir-date';

describe('parseFhirDate', () => {
  it.each([
    ['2015', { year: 2015 }],
    ['2015-02', { year: 2015, month: 2 }],
    ['2015-02-07', { year: 2015, month: 2, day: 7 }],
    [
      '2015-02-07T13:28:17.12345-05:00',
      { year: 2015, month: 2, day: 7, time: '13:28:17.12345', zone: '-05:00' },
    ],
    ['2015-02-07T13:28:17Z', { year: 2015, month: 2, day: 7, time: '13:28:17', zone: 'Z' }],
    ['2016-02-29', { year: 2016, month: 2, day: 29 }],
  ])('reads %s', (value, expected) => {
    expect(parseFhirDate(value)).toEqual(expect.objectContaining(expected));
  });

  it.each(['', '201', '2015-2-7', '2015-00', '2015-02-29', '2015-04-31', '2015-02-07T', 'x2015'])(
    'rejects %j',
    (value) => {
      expect(parseFhirDate(value)).toBeUndefined();
    },
  );
});

describe('civil day arithmetic', () => {
  it('agrees with Date.UTC day numbers from 1600 to 2400', () => {
    const start = Date.UTC(1600, 0, 1) / 86_400_000;
    const end = Date.UTC(2400, 11, 31) / 86_400_000;
    const mismatches: number[] = [];
    for (let days = start; days <= end; days += 1) {
      const date = new Date(days * 86_400_000);
      const civil = civilFromDays(days);
      if (
        civil.year !== date.getUTCFullYear() ||
        civil.month !== date.getUTCMonth() + 1 ||
        civil.day !== date.getUTCDate() ||
        daysFromCivil(civil.year, civil.month, civil.day) !== days
      ) {
        mismatches.push(days);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('puts day 0 at 1970-01-01', () => {
    expect(daysFromCivil(1970, 1, 1)).toBe(0);
    expect(civilFromDays(-1)).toEqual({ year: 1969, month: 12, day: 31 });
  });
});
