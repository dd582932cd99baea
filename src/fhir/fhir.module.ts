import { Global, Module } from '@nestjs/common';
import { FhirDefinitions } from './fhir-definitions.service';
import { PatientCompartment } from './patient-compartment.service';

/** FHIR R4 definitions (resource types, search parameters, Patient compartment) for every module. */
@Global()
@Module({
  providers: [FhirDefinitions, PatientCompartment],
  exports: [FhirDefinitions, PatientCompartment],
})
export class FhirModule {}
