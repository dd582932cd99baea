import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { BULK_DATA_TAG } from './openapi-tags';
import { BEARER_SCHEME, OPERATOR_SCHEME } from './openapi-security';
import { RESOURCE_SCHEMA, RESOURCE_SCHEMA_NAME } from './fhir-api.decorators';
import { ExportManifestDto, OperationOutcomeDto, ParametersDto } from './schemas.dto';

/**
 * The OpenAPI document of the HTTP API: the contract generated clients are built from.
 * It depends only on the code (no configuration, clock or host), so every run gives the same bytes.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('FHIR R4 server with Bulk Data $export')
    .setDescription(
      'FHIR R4 REST API and the HL7 FHIR Bulk Data Access $export operation ' +
        '(kick-off, status polling, cancel, output files).',
    )
    .setVersion('1')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'An access token from the token endpoint (SMART Backend Services; see /.well-known/smart-configuration)',
      },
      BEARER_SCHEME,
    )
    .addBasicAuth(
      { type: 'http', scheme: 'basic', description: 'Operator credentials (ADMIN_CREDENTIALS)' },
      OPERATOR_SCHEME,
    )
    .addTag(BULK_DATA_TAG, 'HL7 FHIR Bulk Data Access: asynchronous $export of NDJSON files.', {
      url: 'https://hl7.org/fhir/uv/bulkdata/export.html',
    })
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    // Fallback only: every handler names its operation with @ApiOperation({ operationId }).
    operationIdFactory: (_controller: string, method: string) => method,
    // Referenced by $ref from response content, which does not register models by itself.
    extraModels: [ExportManifestDto, OperationOutcomeDto, ParametersDto],
  });
  // FHIR resources are open-ended JSON, so this one schema is written by hand, not from a DTO.
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, [RESOURCE_SCHEMA_NAME]: RESOURCE_SCHEMA },
  };
  // Nest routes escape the literal `$` of `$export` for Express; the document must not.
  document.paths = Object.fromEntries(
    Object.entries(document.paths).map(([path, item]) => [path.replace(/\\\$/g, '$'), item]),
  );
  assertUniqueOperationIds(document);
  return document;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Generated clients key operations by operationId; a duplicate would silently shadow one. */
function assertUniqueOperationIds(document: OpenAPIObject): void {
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const id = item[method]?.operationId;
      if (id === undefined) continue;
      const where = `${method.toUpperCase()} ${path}`;
      const other = seen.get(id);
      if (other) throw new Error(`operationId ${id} is used by both ${other} and ${where}`);
      seen.set(id, where);
    }
  }
}

/** Serves the document at /docs-json and the Swagger UI at /docs. */
export function mountOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
  });
}
