import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { elementSelection, subsetResource, SUBSETTED_TAG } from './element-subset';

describe('_elements subsetting', () => {
  const definitions = new FhirDefinitions();

  const observation = {
    resourceType: 'Observation',
    id: 'o1',
    meta: { versionId: '2', lastUpdated: '2024-01-01T00:00:00.000Z', tag: [{ code: 'x' }] },
    status: 'final',
    _status: { extension: [{ url: 'urn:e', valueString: 'e' }] },
    code: { text: 'weight' },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2024-01-01',
    valueQuantity: { value: 72 },
    note: [{ text: 'n' }],
  };
  const content = JSON.stringify(observation);

  function subset(elements: string[], json = content, type = 'Observation') {
    const selection = elementSelection(elements, type, definitions);
    if (!selection) throw new Error('expected a selection');
    return JSON.parse(subsetResource(json, selection)) as Record<string, unknown>;
  }

  it('keeps the named elements plus resourceType, id, meta and mandatory status and code, in stored order', () => {
    const out = subset(['subject']);
    expect(Object.keys(out)).toEqual([
      'resourceType',
      'id',
      'meta',
      'status',
      '_status',
      'code',
      'subject',
    ]);
    expect(out.subject).toEqual(observation.subject);
  });

  it('writes the SUBSETTED tag as the IG does: system and code, no display', () => {
    const out = subset(['subject']);
    expect((out.meta as { tag: unknown[] }).tag.at(-1)).toStrictEqual({
      system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
      code: 'SUBSETTED',
    });
  });

  it('appends the SUBSETTED tag after the tags the resource had, keeping the rest of meta', () => {
    const out = subset(['subject']);
    expect(out.meta).toEqual({ ...observation.meta, tag: [{ code: 'x' }, SUBSETTED_TAG] });
  });

  it('selects every type of a choice element by its name without [x]', () => {
    expect(subset(['value'])).toHaveProperty('valueQuantity', { value: 72 });
    expect(subset(['effective'])).toHaveProperty('effectiveDateTime', '2024-01-01');
    expect(subset(['value'])).not.toHaveProperty('effectiveDateTime');
  });

  it('keeps a mandatory choice element of another type (MedicationRequest medication[x])', () => {
    const request = JSON.stringify({
      resourceType: 'MedicationRequest',
      id: 'm',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { text: 'x' },
      subject: { reference: 'Patient/p' },
      note: [{ text: 'dropped' }],
    });
    const out = subset(['id'], request, 'MedicationRequest');
    expect(Object.keys(out)).toEqual([
      'resourceType',
      'id',
      'meta',
      'status',
      'intent',
      'medicationCodeableConcept',
      'subject',
    ]);
  });

  it('applies Type.element only to that type and bare names to every type', () => {
    expect(elementSelection(['Patient.name'], 'Observation', definitions)).toBeUndefined();
    expect(elementSelection(['Patient.name'], 'Patient', definitions)?.keeps('name')).toBe(true);
    const both = elementSelection(['Patient.name', 'note'], 'Observation', definitions);
    expect(both?.keeps('note')).toBe(true);
    expect(both?.keeps('name')).toBe(false);
    expect(elementSelection(undefined, 'Observation', definitions)).toBeUndefined();
  });

  it('adds meta with the tag right after id when the resource had no meta', () => {
    const bare = JSON.stringify({ resourceType: 'Patient', id: 'p', gender: 'male', name: [] });
    const out = subset(['name'], bare, 'Patient');
    expect(Object.keys(out)).toEqual(['resourceType', 'id', 'meta', 'name']);
    expect(out.meta).toEqual({ tag: [SUBSETTED_TAG] });
  });

  it('returns the stored bytes untouched and untagged when nothing falls outside the selection', () => {
    const small = JSON.stringify({ resourceType: 'Patient', id: 'p', gender: 'male' });
    const selection = elementSelection(['gender'], 'Patient', definitions);
    expect(subsetResource(small, selection!)).toBe(small);
  });

  it('does not tag twice a resource already carrying SUBSETTED', () => {
    const tagged = JSON.stringify({
      resourceType: 'Patient',
      id: 'p',
      meta: { tag: [SUBSETTED_TAG] },
      gender: 'male',
      name: [],
    });
    expect(subset(['name'], tagged, 'Patient').meta).toEqual({ tag: [SUBSETTED_TAG] });
  });
});
