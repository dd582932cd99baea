import { Test } from '@nestjs/testing';
import { FhirDefinitions } from './fhir-definitions.service';
import { FhirModule } from './fhir.module';
import { PatientCompartment } from './patient-compartment.service';
import { ResourceValidator } from './resource-validator';

describe('FhirModule', () => {
  it('provides FhirDefinitions, a PatientCompartment and a ResourceValidator built on it', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [FhirModule] }).compile();
    expect(moduleRef.get(FhirDefinitions).isResourceType('Patient')).toBe(true);
    expect(
      moduleRef.get(PatientCompartment).patientIdsOf({
        resourceType: 'Observation',
        subject: { reference: 'Patient/1' },
      }),
    ).toEqual(['1']);
    expect(moduleRef.get(ResourceValidator).validate({ resourceType: 'Patient', x: 1 })).toEqual([
      expect.objectContaining({ expression: 'Patient.x' }),
    ]);
    await moduleRef.close();
  });
});
