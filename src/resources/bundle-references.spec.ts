import { FhirException } from '../common/fhir-exception';
import {
  conditionalReferencesIn,
  rewriteReferences,
  splitConditionalReference,
} from './bundle-references';

describe('rewriteReferences', () => {
  const targets = new Map([
    ['urn:uuid:p', 'Patient/1'],
    ['Practitioner?identifier=npi|9', 'Practitioner/2'],
  ]);

  it('rewrites known references at any depth and leaves the others alone', () => {
    const resource = {
      subject: { reference: 'urn:uuid:p' },
      extension: [{ valueReference: { reference: 'urn:uuid:p' } }],
      contained: [
        {
          resourceType: 'Provenance',
          agent: [{ who: { reference: 'Practitioner?identifier=npi|9' } }],
        },
      ],
      performer: [{ reference: '#local' }, { reference: 'Organization/3' }],
      note: [{ text: 'reference urn:uuid:p' }],
    };

    rewriteReferences(resource, targets);

    expect(resource).toEqual({
      subject: { reference: 'Patient/1' },
      extension: [{ valueReference: { reference: 'Patient/1' } }],
      contained: [
        { resourceType: 'Provenance', agent: [{ who: { reference: 'Practitioner/2' } }] },
      ],
      performer: [{ reference: '#local' }, { reference: 'Organization/3' }],
      note: [{ text: 'reference urn:uuid:p' }],
    });
  });

  it.each([
    ['urn:uuid:unknown', 'does not match the fullUrl of any entry'],
    ['urn:oid:1.2.3', 'does not match the fullUrl of any entry'],
    ['Patient?identifier=x|y', 'was not resolved'],
  ])('refuses %s when nothing resolves it', (reference, message) => {
    expect(() => rewriteReferences({ subject: { reference } }, targets)).toThrow(FhirException);
    expect(() => rewriteReferences({ subject: { reference } }, targets)).toThrow(message);
  });
});

describe('conditional references', () => {
  it('finds every conditional reference, once each', () => {
    const found = new Set<string>();
    conditionalReferencesIn(
      {
        a: { reference: 'Practitioner?identifier=npi|1' },
        b: [{ reference: 'Practitioner?identifier=npi|1' }, { reference: 'Patient/1' }],
        c: { reference: 'urn:uuid:x' },
      },
      found,
    );
    expect([...found]).toEqual(['Practitioner?identifier=npi|1']);
  });

  it('splits type and search', () => {
    expect(splitConditionalReference('Organization?identifier=a|b')).toEqual({
      type: 'Organization',
      query: 'identifier=a|b',
    });
    expect(splitConditionalReference('Organization/1')).toBeUndefined();
  });
});
