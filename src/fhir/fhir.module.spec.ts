import { Test } from '@nestjs/testing';
import { FhirDefinitions } from './fhir-definitions.service';
import { FhirModule } from './fhir.module';
import { PatientCompartment } from './patient-compartment.service';

describe('FhirModule', () => {
  it('provides FhirDefinitions and a PatientCompartment built on it', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [FhirModule] }).compile();
    expect(moduleRef.get(FhirDefinitions).isResourceType('Patient')).toBe(true);
    expect(
      moduleRef.get(PatientCompartment).patientIdsOf({
        resourceType: 'Observation',
        subject: { reference: 'Patient/1' },
      }),
    ).toEqual(['1']);
    await moduleRef.close();
  });
});
