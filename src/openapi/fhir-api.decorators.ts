import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { OperationOutcomeDto } from './schemas.dto';

/** Component name of the generic FHIR resource schema {@link RESOURCE_SCHEMA}. */
export const RESOURCE_SCHEMA_NAME = 'Resource';

/** Any FHIR R4 resource: the server does not describe each type's structure in this document. */
export const RESOURCE_SCHEMA = {
  type: 'object' as const,
  description: 'A FHIR R4 resource in JSON (https://hl7.org/fhir/R4/json.html).',
  required: ['resourceType'],
  properties: {
    resourceType: { type: 'string' as const, example: 'Patient' },
    id: { type: 'string' as const },
    meta: {
      type: 'object' as const,
      properties: {
        versionId: { type: 'string' as const },
        lastUpdated: { type: 'string' as const, format: 'date-time' },
      },
    },
  },
  additionalProperties: true,
};

const RESOURCE_REF = { $ref: `#/components/schemas/${RESOURCE_SCHEMA_NAME}` };

const PATH_PARAMS = {
  type: ApiParam({
    name: 'type',
    description: 'FHIR resource type, e.g. Patient.',
    schema: { type: 'string', pattern: '^[A-Z][A-Za-z]+$' },
  }),
  id: ApiParam({
    name: 'id',
    description: 'Logical id of the resource.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' },
  }),
  vid: ApiParam({ name: 'vid', description: 'Version id.', schema: { type: 'string' } }),
};

interface FhirInteraction {
  operationId: string;
  summary: string;
  /** Link to the FHIR specification section the handler implements. */
  spec: string;
  path?: (keyof typeof PATH_PARAMS)[];
  /** Whether the request carries a resource (or a Bundle) in its body. */
  body?: boolean;
  /** Optional request headers the interaction reads (If-Match, If-None-Exist, Prefer). */
  headers?: { name: string; description: string }[];
  /** Success statuses; `resource` when the response carries a resource. */
  success: { status: number; description: string; resource: boolean }[];
}

/** FHIR JSON in and out, an OperationOutcome on any error. */
function apiFhirInteraction(interaction: FhirInteraction): MethodDecorator {
  const decorators: MethodDecorator[] = [
    ApiOperation({
      operationId: interaction.operationId,
      summary: interaction.summary,
      externalDocs: { url: interaction.spec },
    }),
    ...(interaction.path ?? []).map((name) => PATH_PARAMS[name]),
    ...(interaction.headers ?? []).map(({ name, description }) =>
      ApiHeader({ name, description, required: false, schema: { type: 'string' } }),
    ),
    ...interaction.success.map(({ status, description, resource }) =>
      ApiResponse({
        status,
        description,
        ...(resource ? { content: { 'application/fhir+json': { schema: RESOURCE_REF } } } : {}),
      }),
    ),
    ApiResponse({
      status: 'default',
      description: 'Any error (FHIR OperationOutcome).',
      content: {
        'application/fhir+json': { schema: { $ref: getSchemaPath(OperationOutcomeDto) } },
      },
    }),
  ];
  if (interaction.body) {
    decorators.push(
      ApiConsumes('application/fhir+json', 'application/json'),
      ApiBody({ required: true, schema: RESOURCE_REF }),
    );
  }
  return applyDecorators(...decorators);
}

const HTTP = 'https://hl7.org/fhir/R4/http.html';
const IF_MATCH = { name: 'If-Match', description: 'Version-aware update: W/"<versionId>".' };
const PREFER_RETURN = {
  name: 'Prefer',
  description: 'return=minimal, return=representation or return=OperationOutcome.',
};

/** `POST [base]/[type]` (FHIR create). */
export const ApiFhirCreate = () =>
  apiFhirInteraction({
    operationId: 'createResource',
    summary: 'Create a resource',
    spec: `${HTTP}#create`,
    path: ['type'],
    body: true,
    headers: [
      { name: 'If-None-Exist', description: 'Conditional create: a search query.' },
      PREFER_RETURN,
    ],
    success: [
      { status: 201, description: 'Created.', resource: true },
      { status: 200, description: 'Conditional create matched an existing one.', resource: true },
    ],
  });

/** `GET [base]/[type]/[id]` (FHIR read). */
export const ApiFhirRead = () =>
  apiFhirInteraction({
    operationId: 'readResource',
    summary: 'Read the current version of a resource',
    spec: `${HTTP}#read`,
    path: ['type', 'id'],
    success: [{ status: 200, description: 'The resource.', resource: true }],
  });

/** `PUT [base]/[type]/[id]` (FHIR update). */
export const ApiFhirUpdate = () =>
  apiFhirInteraction({
    operationId: 'updateResource',
    summary: 'Update a resource (or create it with a client-chosen id)',
    spec: `${HTTP}#update`,
    path: ['type', 'id'],
    body: true,
    headers: [IF_MATCH, PREFER_RETURN],
    success: [
      { status: 200, description: 'Updated.', resource: true },
      { status: 201, description: 'Created.', resource: true },
    ],
  });

/** `DELETE [base]/[type]/[id]` (FHIR delete). */
export const ApiFhirDelete = () =>
  apiFhirInteraction({
    operationId: 'deleteResource',
    summary: 'Delete a resource',
    spec: `${HTTP}#delete`,
    path: ['type', 'id'],
    headers: [IF_MATCH],
    success: [{ status: 204, description: 'Deleted (or already gone).', resource: false }],
  });

/** `GET [base]/[type]/[id]/_history` (FHIR history, instance level). */
export const ApiFhirHistory = () =>
  apiFhirInteraction({
    operationId: 'readResourceHistory',
    summary: 'History of a resource',
    spec: `${HTTP}#history`,
    path: ['type', 'id'],
    success: [{ status: 200, description: 'A history Bundle.', resource: true }],
  });

/** `GET [base]/[type]/[id]/_history/[vid]` (FHIR vread). */
export const ApiFhirVread = () =>
  apiFhirInteraction({
    operationId: 'vreadResource',
    summary: 'Read one version of a resource',
    spec: `${HTTP}#vread`,
    path: ['type', 'id', 'vid'],
    success: [{ status: 200, description: 'That version.', resource: true }],
  });

/** `POST [base]` with a batch or transaction Bundle. */
export const ApiFhirBundle = () =>
  apiFhirInteraction({
    operationId: 'processBundle',
    summary: 'Process a batch or transaction Bundle',
    spec: `${HTTP}#transaction`,
    body: true,
    headers: [PREFER_RETURN],
    success: [
      {
        status: 200,
        description: 'The batch-response or transaction-response Bundle.',
        resource: true,
      },
    ],
  });

const PREFER_HANDLING = {
  name: 'Prefer',
  description: 'handling=lenient: unknown parameters are ignored and reported instead of refused.',
};

/** `GET [base]/[type]?params` (FHIR search). */
export const ApiFhirSearch = () =>
  apiFhirInteraction({
    operationId: 'searchType',
    summary: 'Search resources of one type (search parameters in the query string)',
    spec: `${HTTP}#search`,
    path: ['type'],
    headers: [PREFER_HANDLING],
    success: [{ status: 200, description: 'A searchset Bundle.', resource: true }],
  });

/** `POST [base]/[type]/_search` (FHIR search with form parameters). */
export const ApiFhirSearchForm = () =>
  applyDecorators(
    apiFhirInteraction({
      operationId: 'searchTypeForm',
      summary: 'Search resources of one type (parameters as an url-encoded form)',
      spec: `${HTTP}#search`,
      path: ['type'],
      headers: [PREFER_HANDLING],
      success: [{ status: 200, description: 'A searchset Bundle.', resource: true }],
    }),
    ApiConsumes('application/x-www-form-urlencoded'),
  );

/** `GET [base]/metadata` (FHIR capabilities). */
export const ApiFhirCapabilities = () =>
  apiFhirInteraction({
    operationId: 'getCapabilityStatement',
    summary: "The server's CapabilityStatement",
    spec: `${HTTP}#capabilities`,
    success: [{ status: 200, description: 'The CapabilityStatement.', resource: true }],
  });
