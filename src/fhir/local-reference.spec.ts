import { parseLocalReference } from './local-reference';

describe('parseLocalReference', () => {
  it.each([
    ['Patient/123', { type: 'Patient', id: '123', absolute: false }],
    ['Patient/123/_history/2', { type: 'Patient', id: '123', absolute: false }],
    ['https://fhir.example.org/r4/Group/g.1', { type: 'Group', id: 'g.1', absolute: true }],
  ])('reads %s', (reference, expected) => {
    expect(parseLocalReference(reference)).toEqual(expected);
  });

  it.each([
    '#contained',
    'urn:uuid:6c5d9ca9-54d7-42f5-bfae-a7c19cd217f2',
    'Patient?identifier=x|1',
    'patient/1',
    'Patient/',
    '',
  ])('has no local target for %s', (reference) => {
    expect(parseLocalReference(reference)).toBeUndefined();
  });
});
