import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { parseExportHeaders, RequestHeaders } from './export-headers';

const ok = { accept: 'application/fhir+json', prefer: 'respond-async' };

function rejection(headers: RequestHeaders): FhirException {
  try {
    parseExportHeaders(headers);
  } catch (error) {
    if (error instanceof FhirException) return error;
    throw error;
  }
  throw new Error('expected the headers to be rejected');
}

describe('parseExportHeaders', () => {
  it('accepts application/fhir+json with respond-async and is strict by default', () => {
    expect(parseExportHeaders(ok)).toEqual({ lenient: false });
  });

  it.each([
    'text/html, application/fhir+json;q=0.9',
    'application/json, application/fhir+json',
    'application/fhir+json; fhirVersion=4.0',
    'application/fhir+json;charset=utf-8',
    'APPLICATION/FHIR+JSON',
  ])('accepts Accept %s', (accept) => {
    expect(parseExportHeaders({ ...ok, accept })).toEqual({ lenient: false });
  });

  it('reads headers whatever their name casing and joins repeated ones', () => {
    expect(
      parseExportHeaders({
        Accept: 'application/fhir+json',
        Prefer: ['respond-async', 'handling=lenient'],
      }),
    ).toEqual({ lenient: true });
  });

  it('rejects a missing Accept naming the header', () => {
    const error = rejection({ prefer: 'respond-async' });
    expect(error.code).toBe(FhirErrorCode.BadRequest);
    expect(error.outcome.issue[0].expression).toEqual(['Accept']);
    expect(error.message).toContain('Accept');
  });

  it.each([
    'text/html',
    'application/xml',
    'application/fhir+json;q=0',
    'application/fhir+xml',
    'application/json',
    '*/*',
    'application/*',
    'application/json, */*;q=0.8',
  ])(
    'rejects Accept %s naming the value, application/fhir+json being the only type the IG allows',
    (accept) => {
      const error = rejection({ ...ok, accept });
      expect(error.code).toBe(FhirErrorCode.BadRequest);
      expect(error.outcome.issue[0].expression).toEqual(['Accept']);
      expect(error.message).toContain(`'${accept}'`);
    },
  );

  it('rejects a missing Prefer naming respond-async', () => {
    const error = rejection({ accept: 'application/fhir+json' });
    expect(error.outcome.issue[0].expression).toEqual(['Prefer']);
    expect(error.message).toContain('respond-async');
  });

  it('rejects a Prefer without respond-async', () => {
    const error = rejection({ ...ok, prefer: 'handling=lenient' });
    expect(error.outcome.issue[0].expression).toEqual(['Prefer']);
    expect(error.message).toContain("'handling=lenient' does not include respond-async");
  });

  it.each([
    ['respond-async, handling=lenient', true],
    ['respond-async; handling=lenient', true],
    ['handling=lenient, respond-async', true],
    ['respond-async, handling="lenient"', true],
    ['respond-async, handling=strict', false],
    ['Respond-Async', false],
  ])('reads Prefer %s as lenient=%s', (prefer, lenient) => {
    expect(parseExportHeaders({ ...ok, prefer })).toEqual({ lenient });
  });

  it.each([
    'respond-async, handling=relaxed',
    'respond-async, return=representation',
    'respond-async=1',
  ])('rejects the unsupported preference in Prefer %s naming it', (prefer) => {
    const error = rejection({ ...ok, prefer });
    expect(error.outcome.issue[0].expression).toEqual(['Prefer']);
    expect(error.message).toContain(`'${prefer.split(', ').pop()}'`);
  });

  it('rejects contradictory handling preferences', () => {
    const error = rejection({ ...ok, prefer: 'respond-async, handling=strict, handling=lenient' });
    expect(error.message).toContain('both handling=strict and handling=lenient');
  });
});
