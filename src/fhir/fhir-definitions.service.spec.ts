import { FhirDefinitions } from './fhir-definitions.service';

describe('FhirDefinitions', () => {
  const definitions = new FhirDefinitions();

  describe('resourceTypes', () => {
    it('lists the 146 concrete R4 resource types, sorted', () => {
      expect(definitions.resourceTypes).toHaveLength(146);
      expect([...definitions.resourceTypes].sort()).toEqual(definitions.resourceTypes);
      expect(definitions.resourceTypes).toEqual(
        expect.arrayContaining(['Patient', 'Observation', 'Bundle', 'Binary', 'Parameters']),
      );
    });

    it('leaves out abstract bases, data types and the R4B SubscriptionStatus the package backports', () => {
      for (const name of ['Resource', 'DomainResource', 'HumanName', 'SubscriptionStatus']) {
        expect(definitions.resourceTypes).not.toContain(name);
      }
    });
  });

  describe('isResourceType', () => {
    it('accepts R4 resource types by their exact name', () => {
      expect(definitions.isResourceType('Patient')).toBe(true);
      expect(definitions.isResourceType('MedicationRequest')).toBe(true);
    });

    it('rejects wrong case, data types, abstract types and unknown names', () => {
      for (const name of ['patient', 'HumanName', 'DomainResource', 'SubscriptionStatus', '']) {
        expect(definitions.isResourceType(name)).toBe(false);
      }
    });
  });

  describe('searchParameters', () => {
    it("returns a type's own reference parameter with its targets", () => {
      const subject = definitions.searchParameter('Observation', 'subject');
      expect(subject).toEqual({
        name: 'subject',
        code: 'subject',
        type: 'reference',
        expression: 'Observation.subject',
        url: 'http://hl7.org/fhir/SearchParameter/Observation-subject',
        target: ['Group', 'Device', 'Patient', 'Location'],
      });
    });

    it('narrows a parameter shared by many types to the branches of the requested type', () => {
      expect(definitions.searchParameter('Observation', 'code')).toMatchObject({
        url: 'http://hl7.org/fhir/SearchParameter/clinical-code',
        type: 'token',
        expression: 'Observation.code',
      });
      expect(definitions.searchParameter('Encounter', 'patient')?.expression).toBe(
        'Encounter.subject.where(resolve() is Patient)',
      );
    });

    it('adds Resource parameters to every type and DomainResource ones only to its subtypes', () => {
      const bundleCodes = definitions.searchParameters('Bundle').map((p) => p.code);
      const patientCodes = definitions.searchParameters('Patient').map((p) => p.code);
      expect(bundleCodes).toEqual(expect.arrayContaining(['_id', '_lastUpdated', '_tag']));
      expect(bundleCodes).not.toContain('_text');
      expect(patientCodes).toEqual(expect.arrayContaining(['_id', '_lastUpdated', '_text']));
      expect(definitions.searchParameter('Patient', '_lastUpdated')?.expression).toBe(
        'Resource.meta.lastUpdated',
      );
    });

    it('sorts by code and leaves out parameters from later FHIR versions', () => {
      const codes = definitions.searchParameters('DeviceDefinition').map((p) => p.code);
      expect(codes).toEqual([...codes].sort());
      expect(codes).toContain('type');
      expect(codes).not.toContain('classification');
    });

    it('returns nothing for a name that is not a resource type', () => {
      expect(definitions.searchParameters('HumanName')).toEqual([]);
      expect(definitions.searchParameter('Patient', 'no-such-code')).toBeUndefined();
    });
  });

  describe('patientCompartment', () => {
    it("is HL7's R4 definition, not the package's edited standalone copy", () => {
      const byType = new Map(definitions.patientCompartment.map((r) => [r.resourceType, r.params]));
      expect(byType.get('Encounter')).toEqual(['patient']);
      expect(byType.get('Observation')).toEqual(['subject', 'performer']);
      expect(byType.has('Task')).toBe(false);
      expect(byType.has('Organization')).toBe(false);
    });
  });

  describe('mandatoryElements', () => {
    it('lists the top-level elements with min >= 1 of the R4 StructureDefinition, choices as [x]', () => {
      expect(definitions.mandatoryElements('Observation')).toEqual(['code', 'status']);
      expect(definitions.mandatoryElements('Encounter')).toEqual(['class', 'status']);
      expect(definitions.mandatoryElements('MedicationRequest')).toEqual([
        'intent',
        'medication[x]',
        'status',
        'subject',
      ]);
    });

    it('is empty for a type without mandatory elements and for a name that is not a type', () => {
      expect(definitions.mandatoryElements('Patient')).toEqual([]);
      expect(definitions.mandatoryElements('HumanName')).toEqual([]);
    });
  });

  describe('isChoiceElement', () => {
    it('knows value and effective of Observation as choices, and code as not one', () => {
      expect(definitions.isChoiceElement('Observation', 'value')).toBe(true);
      expect(definitions.isChoiceElement('Observation', 'effective')).toBe(true);
      expect(definitions.isChoiceElement('Observation', 'code')).toBe(false);
      expect(definitions.isChoiceElement('Patient', 'value')).toBe(false);
    });
  });
});
