import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** The OpenAPI document of the HTTP API: the contract generated clients are built from. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('FHIR R4 server with Bulk Data $export')
    .setDescription(
      'FHIR R4 REST API and the HL7 FHIR Bulk Data Access $export operation ' +
        '(kick-off, status polling, cancel, output files).',
    )
    .setVersion('1')
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controller: string, method: string) => method,
  });
  // Nest routes escape the literal `$` of `$export` for Express; the document must not.
  document.paths = Object.fromEntries(
    Object.entries(document.paths).map(([path, item]) => [path.replace(/\\\$/g, '$'), item]),
  );
  return document;
}

/** Serves the document at /docs-json and the Swagger UI at /docs. */
export function mountOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
}
