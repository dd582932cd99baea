import { hasIdentifier, parseIdentifierCondition } from './identifier-condition';

describe('parseIdentifierCondition', () => {
  it.each([
    ['identifier=http://a|1', { system: 'http://a', value: '1' }],
    ['identifier=|1', { system: '', value: '1' }],
    ['identifier=1', { value: '1' }],
    [
      '?identifier=https%3A%2F%2Fgithub.com%2Fsynthetichealth%2Fsynthea%7Cabc',
      { system: 'https://github.com/synthetichealth/synthea', value: 'abc' },
    ],
    ['identifier=a|b\\,c', { system: 'a', value: 'b,c' }],
  ])('reads %s', (query, expected) => {
    expect(parseIdentifierCondition(query, 'ifNoneExist')).toEqual(expected);
  });

  it.each([
    ['name=Smith', 'not supported yet'],
    ['identifier=a|1&name=Smith', 'not supported yet'],
    ['identifier=a|1&identifier=b|2', 'not supported yet'],
    ['identifier=a|1,b|2', 'must name one identifier'],
    ['identifier=', 'must name one identifier'],
    ['identifier=a|', 'has no identifier value'],
  ])('refuses %s', (query, message) => {
    expect(() => parseIdentifierCondition(query, 'ifNoneExist')).toThrow(message);
  });
});

describe('hasIdentifier', () => {
  const resource = { identifier: [{ system: 'http://a', value: '1' }, { value: '2' }] };

  it('matches system and value, value alone, or a value without system', () => {
    expect(hasIdentifier(resource, { system: 'http://a', value: '1' })).toBe(true);
    expect(hasIdentifier(resource, { value: '1' })).toBe(true);
    expect(hasIdentifier(resource, { system: '', value: '2' })).toBe(true);
    expect(hasIdentifier(resource, { system: '', value: '1' })).toBe(false);
    expect(hasIdentifier(resource, { system: 'http://b', value: '1' })).toBe(false);
    expect(hasIdentifier({}, { value: '1' })).toBe(false);
  });
});
