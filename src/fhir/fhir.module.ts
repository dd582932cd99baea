import { Global, Module } from '@nestjs/common';

/** FHIR R4 definitions (resource types, search parameters, Patient compartment). */
@Global()
@Module({})
export class FhirModule {}
