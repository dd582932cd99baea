import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';

// These classes only describe payloads for the OpenAPI document; nothing validates with them.

@ApiSchema({
  name: 'Reference',
  description: 'FHIR R4 Reference (the parts a $export request uses).',
})
export class ReferenceDto {
  @ApiProperty({ description: 'Relative reference, e.g. Patient/123.', example: 'Patient/123' })
  reference!: string;
}

@ApiSchema({
  name: 'ParametersParameter',
  description: 'One Parameters.parameter entry; exactly one value[x] is given.',
})
export class ParametersParameterDto {
  @ApiProperty({
    description:
      'Parameter name: _outputFormat, _since, _until (alias _till), _type, _typeFilter, _elements, ' +
      '_container, includeAssociatedData, or patient (Patient and Group level only, as valueReference). ' +
      'Repeating a list parameter is the same as giving its values comma-separated.',
    example: '_type',
  })
  name!: string;

  @ApiPropertyOptional({ example: 'Patient,Observation' })
  valueString?: string;

  @ApiPropertyOptional({ example: 'application/fhir+ndjson' })
  valueCode?: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2024-01-31T12:00:00Z' })
  valueInstant?: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2024-01-31T12:00:00Z' })
  valueDateTime?: string;

  @ApiPropertyOptional()
  valueBoolean?: boolean;

  @ApiPropertyOptional({ type: () => ReferenceDto })
  valueReference?: ReferenceDto;
}

@ApiSchema({
  name: 'Parameters',
  description: 'FHIR R4 Parameters resource carrying the $export kick-off parameters.',
})
export class ParametersDto {
  @ApiProperty({ enum: ['Parameters'] })
  resourceType!: 'Parameters';

  @ApiPropertyOptional({ type: () => [ParametersParameterDto] })
  parameter?: ParametersParameterDto[];
}

@ApiSchema({ name: 'OperationOutcomeIssue' })
export class OperationOutcomeIssueDto {
  @ApiProperty({ enum: ['fatal', 'error', 'warning', 'information'] })
  severity!: 'fatal' | 'error' | 'warning' | 'information';

  @ApiProperty({ description: 'FHIR IssueType code, e.g. invalid, not-found, exception.' })
  code!: string;

  @ApiPropertyOptional({ description: 'What went wrong, for a person to read.' })
  diagnostics?: string;

  @ApiPropertyOptional({
    type: [String],
    description: 'The header, parameter or element at fault.',
  })
  expression?: string[];
}

@ApiSchema({
  name: 'OperationOutcome',
  description: 'FHIR R4 OperationOutcome: the body of every error response.',
})
export class OperationOutcomeDto {
  @ApiProperty({ enum: ['OperationOutcome'] })
  resourceType!: 'OperationOutcome';

  @ApiPropertyOptional()
  id?: string;

  @ApiProperty({ type: () => [OperationOutcomeIssueDto] })
  issue!: OperationOutcomeIssueDto[];
}

@ApiSchema({ name: 'ExportManifestFile', description: 'One file of a completed export.' })
export class ExportManifestFileDto {
  @ApiProperty({
    description: 'Resource type of every line in the file (OperationOutcome for error files).',
    example: 'Patient',
  })
  type!: string;

  @ApiProperty({
    format: 'uri',
    description: 'Where to download the file (application/fhir+ndjson).',
    example: 'https://fhir.example.org/_operations/export/0b7c.../Patient-1.ndjson',
  })
  url!: string;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Number of resources in the file.' })
  count!: number;
}

@ApiSchema({
  name: 'ExportManifestExtension',
  description:
    "The manifest's `extension` object, which the Bulk Data IG reserves for server-specific information.",
})
export class ExportManifestExtensionDto {
  @ApiProperty({
    format: 'date-time',
    description:
      'When the export expires (finished plus EXPORT_RETENTION_HOURS), as in the Expires header: ' +
      'from then on its files may be deleted, and its status answer 404, at any time.',
    example: '2026-11-27T04:05:00.000Z',
  })
  expires?: string;

  @ApiProperty({
    required: false,
    description: 'Present and true when the export was de-identified (_anonymizationConfig).',
  })
  anonymized?: boolean;

  @ApiProperty({ required: false, description: 'The anonymization configuration applied.' })
  anonymizationConfig?: string;

  @ApiProperty({
    required: false,
    description: 'The ETag of the anonymization configuration applied, as the kick-off read it.',
  })
  anonymizationConfigEtag?: string;
}

@ApiSchema({
  name: 'ExportManifest',
  description:
    'Complete status response of the Bulk Data IG ("Response - Complete Status"): the manifest of a finished export.',
})
export class ExportManifestDto {
  @ApiProperty({
    format: 'date-time',
    description:
      'The instant the export is a snapshot of: no resource changed after it is included.',
  })
  transactionTime!: string;

  @ApiProperty({ format: 'uri', description: 'The kick-off request URL exactly as received.' })
  request!: string;

  @ApiProperty({
    description: 'Whether file downloads need the same access token as the kick-off.',
  })
  requiresAccessToken!: boolean;

  @ApiProperty({
    type: () => [ExportManifestFileDto],
    description: 'One entry per file, sorted by type then file number.',
  })
  output!: ExportManifestFileDto[];

  @ApiProperty({
    type: () => [ExportManifestFileDto],
    description: 'OperationOutcome files for problems met during the export; possibly empty.',
  })
  error!: ExportManifestFileDto[];

  @ApiProperty({
    type: () => [ExportManifestFileDto],
    description: 'Bundle files listing resources deleted since _since; possibly empty.',
  })
  deleted!: ExportManifestFileDto[];

  @ApiPropertyOptional({
    type: () => ExportManifestExtensionDto,
    description:
      'Server-specific information (the IG reserves this name): when the export expires.',
  })
  extension?: ExportManifestExtensionDto;
}
