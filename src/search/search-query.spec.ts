import { FhirDefinitions } from '../fhir/fhir-definitions.service';
import { SearchParameters } from './search-parameters';
import { parseSearchQuery, splitEscaped, unescapeValue } from './search-query';

describe('parseSearchQuery', () => {
  const parameters = new SearchParameters(new FhirDefinitions());
  const parse = (type: string, query: string, lenient = false) =>
    parseSearchQuery(type, query, parameters, { lenient });

  it('splits values at unescaped commas only and removes the escapes', () => {
    expect(splitEscaped('a\\,b,c', ',')).toEqual(['a\\,b', 'c']);
    expect(unescapeValue('a\\,b\\|c\\$d\\\\e')).toEqual('a,b|c$d\\e');
    const search = parse('Observation', 'code=urn:x%7Ca%5C%2Cb,c');
    expect(search.conditions[0]).toMatchObject({
      kind: 'token',
      values: [{ system: 'urn:x', code: 'a,b' }, { code: 'c' }],
    });
  });

  it('keeps an encoded = inside a value', () => {
    const search = parse('Patient', 'family=a%3Db');
    expect(search.conditions[0]).toMatchObject({ kind: 'string', values: ['a=b'] });
  });

  it('reads |code as no system and system| as any code', () => {
    const search = parse('Observation', 'code=%7C123&code=http://loinc.org%7C');
    expect(search.conditions.map((c) => (c.kind === 'token' ? c.values : []))).toEqual([
      [{ system: null, code: '123' }],
      [{ system: 'http://loinc.org' }],
    ]);
  });

  it('reads date prefixes and partial dates as ranges', () => {
    const search = parse('Patient', 'birthdate=ge2020-02');
    expect(search.conditions[0]).toMatchObject({
      kind: 'date',
      values: [
        {
          prefix: 'ge',
          range: { low: '2020-02-01T00:00:00.000Z', high: '2020-03-01T00:00:00.000Z' },
        },
      ],
    });
  });

  it('resolves an unambiguous chain target and rejects an ambiguous one', () => {
    expect(parse('Observation', 'subject.gender=male').conditions[0]).toMatchObject({
      kind: 'chain',
      targetType: 'Patient',
    });
    expect(() => parse('Observation', 'subject.name=x')).toThrow(/ambiguous/);
  });

  it('names the offending parameter in the 400, or ignores it when lenient', () => {
    expect(() => parse('Observation', 'code=x&foo=bar')).toThrow(/foo/);
    expect(() => parse('Observation', '_include=Observation:subject')).toThrow(/_include/);
    const lenient = parse('Observation', 'code=x&foo=bar', true);
    expect(lenient.conditions).toHaveLength(1);
    expect(lenient.ignored).toEqual([
      { name: 'foo', reason: 'Unknown search parameter foo for Observation' },
    ]);
  });

  it('refuses result parameters inside a _typeFilter', () => {
    expect(() =>
      parseSearchQuery('Observation', 'code=x&_sort=_id', parameters, { context: 'filter' }),
    ).toThrow(/_sort/);
  });

  it('caps _count at 1000 and accepts the supported sorts only', () => {
    expect(parse('Patient', '_count=5000').count).toBe(1000);
    expect(parse('Patient', '_sort=-_lastUpdated').sort).toEqual({
      key: '_lastUpdated',
      descending: true,
    });
    expect(() => parse('Patient', '_sort=family')).toThrow(/_sort/);
  });

  it('caps a _count of any length, and refuses one not in digits saying the rule and the limit', () => {
    expect(parse('Patient', '_count=1000000000').count).toBe(1000);
    expect(parse('Patient', `_count=${'9'.repeat(400)}`).count).toBe(1000);
    expect(parse('Patient', '_count=0').count).toBe(0);
    for (const value of ['1e9', '-1', '2.5', '0x10', '']) {
      expect(() => parse('Patient', `_count=${value}`)).toThrow(
        `_count must be a non-negative integer written in digits (a page holds at most 1000 entries; a larger _count gets 1000), got "${value}"`,
      );
    }
  });
});
