import { formatInstant, parseFhirInstant } from './fhir-instant';

function roundTrip(text: string): string | undefined {
  const parsed = parseFhirInstant(text);
  return parsed && formatInstant(parsed.epochMs, parsed.offset, parsed.offsetMinutes);
}

describe('parseFhirInstant', () => {
  it('computes the epoch from the offset', () => {
    expect(parseFhirInstant('2024-01-31T14:00:00+02:00')?.epochMs).toBe(
      Date.parse('2024-01-31T12:00:00Z'),
    );
  });

  it('keeps years below 100 as given instead of mapping them to 19xx', () => {
    expect(roundTrip('0050-03-01T00:00:00Z')).toBe('0050-03-01T00:00:00.000Z');
  });

  it('keeps -00:00 and the extreme offsets as given', () => {
    expect(roundTrip('2024-01-31T12:00:00-00:00')).toBe('2024-01-31T12:00:00.000-00:00');
    expect(roundTrip('2024-01-31T12:00:00+14:00')).toBe('2024-01-31T12:00:00.000+14:00');
    expect(parseFhirInstant('2024-01-31T12:00:00+14:30')).toBeUndefined();
  });

  it('rolls a leap second into the next minute', () => {
    expect(roundTrip('2016-12-31T23:59:60Z')).toBe('2017-01-01T00:00:00.000Z');
  });

  it('flags non-zero digits beyond milliseconds only', () => {
    expect(parseFhirInstant('2024-01-31T12:00:00.123000Z')?.subMillisecond).toBe(false);
    expect(parseFhirInstant('2024-01-31T12:00:00.123001Z')?.subMillisecond).toBe(true);
  });

  it.each(['2024-04-31T00:00:00Z', '0000-01-01T00:00:00Z', '2024-1-31T00:00:00Z'])(
    'rejects %s',
    (text) => {
      expect(parseFhirInstant(text)).toBeUndefined();
    },
  );
});
