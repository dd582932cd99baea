import { Global, Module } from '@nestjs/common';
import { FhirDefinitions } from './fhir-definitions.service';
import { PatientCompartment } from './patient-compartment.service';
import { ResourceValidator } from './resource-validator';

/** FHIR R4 definitions (resource types, search parameters, Patient compartment, element rules) for every module. */
@Global()
@Module({
  providers: [FhirDefinitions, PatientCompartment, ResourceValidator],
  exports: [FhirDefinitions, PatientCompartment, ResourceValidator],
})
export class FhirModule {}
