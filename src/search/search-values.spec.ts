import { dateRange, periodRange } from './search-values';

describe('dateRange', () => {
  it('covers the whole year, month or day at that precision', () => {
    expect(dateRange('2020')).toEqual({
      low: '2020-01-01T00:00:00.000Z',
      high: '2021-01-01T00:00:00.000Z',
    });
    expect(dateRange('2020-02')).toEqual({
      low: '2020-02-01T00:00:00.000Z',
      high: '2020-03-01T00:00:00.000Z',
    });
    expect(dateRange('2020-12-31')?.high).toBe('2021-01-01T00:00:00.000Z');
  });

  it('applies the time zone and the precision of a dateTime', () => {
    expect(dateRange('2020-03-04T10:00:00+02:00')).toEqual({
      low: '2020-03-04T08:00:00.000Z',
      high: '2020-03-04T08:00:01.000Z',
    });
    expect(dateRange('2020-03-04T10:00:00.250Z')?.high).toBe('2020-03-04T10:00:00.251Z');
  });

  it('turns the open-ended 9999-12-31 into a range PostgreSQL accepts', () => {
    expect(dateRange('9999-12-31')).toEqual({ low: '9999-12-31T00:00:00.000Z', high: 'infinity' });
    expect(dateRange('9999')?.high).toBe('infinity');
    expect(periodRange({ start: '2020-01-01', end: '9999-12-31' })?.high).toBe('infinity');
  });

  it('keeps years below 100 as written', () => {
    expect(dateRange('0050')?.low).toBe('0050-01-01T00:00:00.000Z');
  });

  it.each([
    '2020-02-30',
    '2021-02-29',
    '2020-13',
    '2020-00-10',
    '2020-01-01T25:00:00Z',
    '2020-01-01T10:61:00Z',
    'soon',
  ])('refuses %s rather than rolling it over', (value) => {
    expect(dateRange(value)).toBeUndefined();
  });

  it('accepts a leap day and a leap second', () => {
    expect(dateRange('2020-02-29')?.low).toBe('2020-02-29T00:00:00.000Z');
    expect(dateRange('2016-12-31T23:59:60Z')?.low).toBe('2016-12-31T23:59:59.000Z');
  });
});
