import { parseIfMatch, parsePrefer } from './fhir-request';

describe('parseIfMatch', () => {
  it.each([
    ['W/"3"', 3],
    ['"12"', 12],
    [' W/"1" ', 1],
    [undefined, undefined],
    ['', undefined],
  ])('reads %j as version %j', (header, version) => {
    expect(parseIfMatch(header)).toBe(version);
  });

  it.each(['3', 'W/"0"', 'W/"abc"', '*', 'W/"1", W/"2"'])('refuses %j with 400', (header) => {
    expect(() => parseIfMatch(header)).toThrow('If-Match must be a version ETag');
  });
});

describe('parsePrefer', () => {
  it.each([
    ['return=minimal', 'minimal'],
    ['respond-async, return=OperationOutcome', 'OperationOutcome'],
    ['return="minimal"', 'minimal'],
    ['return=representation', 'representation'],
    ['handling=strict', 'representation'],
    [undefined, 'representation'],
    [['handling=lenient', 'return=minimal'], 'minimal'],
  ])('reads %j as %s', (header, expected) => {
    expect(parsePrefer(header)).toBe(expected);
  });
});
