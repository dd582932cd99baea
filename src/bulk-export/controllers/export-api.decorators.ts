import { applyDecorators, Get, HttpCode, Post } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { NoHead } from '../../common/allowed-methods';
import { ExportManifestDto, OperationOutcomeDto, ParametersDto } from '../../openapi/schemas.dto';
import type { ExportLevel } from '../export-request';

const IG = 'https://hl7.org/fhir/uv/bulkdata/export.html';

function operationOutcome(status: number, description: string): MethodDecorator {
  return ApiResponse({
    status,
    description: `${description} (FHIR OperationOutcome).`,
    content: { 'application/fhir+json': { schema: { $ref: getSchemaPath(OperationOutcomeDto) } } },
  });
}

const LEVELS: Record<ExportLevel, { route: string; path: string; name: string; what: string }> = {
  system: {
    route: '\\$export',
    path: '/$export',
    name: 'exportSystem',
    what: 'every resource the server holds',
  },
  patient: {
    route: 'Patient/\\$export',
    path: '/Patient/$export',
    name: 'exportPatient',
    what: "every patient's compartment",
  },
  group: {
    route: 'Group/:id/\\$export',
    path: '/Group/{id}/$export',
    name: 'exportGroup',
    what: "the compartments of the Group's member patients",
  },
};

const KICKOFF_QUERY = [
  ApiQuery({
    name: '_outputFormat',
    required: false,
    enum: ['application/fhir+ndjson', 'application/ndjson', 'ndjson'],
    description: 'Output format; every accepted value produces NDJSON.',
  }),
  ApiQuery({
    name: '_since',
    required: false,
    type: 'string',
    format: 'date-time',
    description: 'FHIR instant: only resources last updated after it. Not in the future.',
  }),
  ApiQuery({
    name: '_until',
    required: false,
    type: 'string',
    format: 'date-time',
    description:
      'FHIR instant: only resources last updated up to it (alias _till). Not in the future.',
  }),
  ApiQuery({
    name: '_type',
    required: false,
    type: 'string',
    description: 'Comma-separated resource types to export (default: all the level covers).',
    example: 'Patient,Observation',
  }),
  ApiQuery({
    name: '_typeFilter',
    required: false,
    type: 'string',
    description:
      'Comma-separated `Type?search` queries further restricting a type; each type must be in _type when _type is given.',
    example: 'Observation?status=final',
  }),
  ApiQuery({
    name: '_elements',
    required: false,
    type: 'string',
    description: 'Comma-separated element names (`element` or `Type.element`) to include.',
  }),
  ApiQuery({
    name: '_container',
    required: false,
    type: 'string',
    minLength: 3,
    maxLength: 63,
    pattern: '^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$',
    description:
      'Azure Blob container to write into (created if missing), under a new folder per export. ' +
      'Without it each export gets a new container.',
  }),
  ApiQuery({
    name: '_anonymizationConfig',
    required: false,
    type: 'string',
    pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$',
    description:
      'De-identified export (as in Azure API for FHIR): the name of an anonymization configuration ' +
      "in the storage account's `anonymization` container (FHIR Anonymizer format). Needs `_container`.",
  }),
  ApiQuery({
    name: '_anonymizationConfigEtag',
    required: false,
    type: 'string',
    description:
      'The ETag the configuration must have (a strong match; quotes are added when missing).',
  }),
  ApiQuery({
    name: 'includeAssociatedData',
    required: false,
    type: 'string',
    description:
      'Comma-separated: LatestProvenanceResources, RelevantProvenanceResources or _custom values.',
  }),
];

/**
 * One `$export` kick-off route (Bulk Data IG, export page "Bulk Data Kick-off Request"): the
 * level's path for GET or POST, 202 on success, and its OpenAPI description (the required
 * headers, the query parameters (GET) or Parameters body (POST), the 202 with Content-Location).
 */
export function KickoffRoute(level: ExportLevel, form: 'GET' | 'POST'): MethodDecorator {
  const { route, path, name, what } = LEVELS[level];
  const decorators: MethodDecorator[] = [
    ...(form === 'GET' ? [Get(route), NoHead()] : [Post(route)]),
    HttpCode(202),
    ApiOperation({
      operationId: form === 'GET' ? name : `${name}Post`,
      summary: `Kick off a ${level}-level export (${form})`,
      description:
        `Starts an asynchronous export of ${what} (${path}). ` +
        (form === 'GET'
          ? 'Parameters come in the query string. '
          : 'Parameters come in a FHIR Parameters body; `patient` (valueReference) is accepted only here. ') +
        'An identical request from the same client while the first is still running answers the ' +
        `running job's Content-Location. See ${IG}#bulk-data-kick-off-request`,
    }),
    ApiHeader({
      name: 'Accept',
      required: true,
      schema: { type: 'string', default: 'application/fhir+json' },
      description:
        'Must list application/fhir+json (parameters such as charset allowed, q above 0), the only ' +
        'format of the OperationOutcome the kick-off may answer; application/json or */* alone is refused.',
    }),
    ApiHeader({
      name: 'Prefer',
      required: true,
      schema: { type: 'string', default: 'respond-async' },
      description:
        'Must contain respond-async; `handling=lenient` skips unsupported parameters and types instead of answering 400.',
    }),
    ApiResponse({
      status: 202,
      description: 'Export accepted; poll the Content-Location URL for its status. Empty body.',
      headers: {
        'Content-Location': {
          description: 'Absolute URL of the status endpoint of this export.',
          required: true,
          schema: { type: 'string', format: 'uri' },
        },
      },
    }),
    operationOutcome(400, 'A header or parameter is missing or invalid; the issue names it'),
    operationOutcome(
      429,
      'The client already runs its limit of exports (max_concurrent_exports); retry after Retry-After',
    ),
  ];
  if (level === 'group') {
    decorators.push(
      ApiParam({
        name: 'id',
        description: 'Id of the Group whose members to export.',
        schema: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' },
      }),
      operationOutcome(404, 'No such Group'),
    );
  }
  if (form === 'GET') {
    decorators.push(...KICKOFF_QUERY);
  } else {
    decorators.push(
      ApiConsumes('application/fhir+json', 'application/json'),
      ApiBody({
        type: ParametersDto,
        required: true,
        description: 'The kick-off parameters as a FHIR Parameters resource.',
      }),
    );
  }
  return applyDecorators(...decorators);
}

const EXPORT_ID = ApiParam({
  name: 'id',
  description: 'Export id, the last segment of the kick-off Content-Location.',
  schema: { type: 'string', format: 'uuid' },
});

/** Describes the status request (Bulk Data IG, export page "Bulk Data Status Request"). */
export function ApiExportStatus(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      operationId: 'getExportStatus',
      summary: 'Poll the status of an export',
      description: `202 while the export runs, 200 with the manifest once it is complete. See ${IG}#bulk-data-status-request`,
    }),
    EXPORT_ID,
    ApiResponse({
      status: 200,
      description:
        'Export complete: the manifest. The export expires EXPORT_RETENTION_HOURS after it ' +
        'finished (Expires header, `extension.expires`); from then on it may be purged at any ' +
        'time: its files are deleted and this URL answers 404.',
      headers: {
        Expires: {
          description:
            'HTTP-date from which the export may be purged (files deleted, status 404): download before it.',
          required: true,
          schema: { type: 'string', example: 'Fri, 27 Nov 2026 04:05:00 GMT' },
        },
        'Cache-Control': {
          description: 'no-store: the manifest is not for caches to keep until it expires.',
          required: true,
          schema: { type: 'string', enum: ['no-store'] },
        },
      },
      content: { 'application/json': { schema: { $ref: getSchemaPath(ExportManifestDto) } } },
    }),
    ApiResponse({
      status: 202,
      description: 'Export queued or running. Empty body.',
      headers: {
        'X-Progress': {
          description: 'Progress for a person to read, e.g. "42% (420 of ~1000 resources)".',
          required: true,
          schema: { type: 'string', maxLength: 100 },
        },
        'Retry-After': {
          description: 'Seconds to wait before polling again.',
          required: true,
          schema: { type: 'integer', minimum: 0 },
        },
      },
    }),
    operationOutcome(404, "Unknown, cancelled, another client's, or expired and purged export"),
    operationOutcome(429, 'Polled faster than the server allows; poll again after Retry-After'),
    operationOutcome(500, 'The export failed for good, saying what failed; start it again'),
    operationOutcome(
      503,
      'A dependency is unavailable, so the status could not be read; the export goes on, ' +
        'poll again after Retry-After',
    ),
  );
}

/** Describes the delete request (Bulk Data IG, export page "Bulk Data Delete Request"). */
export function ApiExportCancel(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      operationId: 'cancelExport',
      summary: 'Cancel an export or delete its output',
      description:
        'Stops a running export or discards a finished one; its files are deleted and its status ' +
        `answers 404 afterwards. See ${IG}#bulk-data-delete-request`,
    }),
    EXPORT_ID,
    ApiResponse({ status: 202, description: 'Cancelled. Empty body.' }),
    operationOutcome(404, 'Unknown, already cancelled, or expired and purged export'),
  );
}

/** Describes the output file download (Bulk Data IG, export page "File Request"). */
export function ApiExportFile(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      operationId: 'downloadExportFile',
      summary: 'Download one output file of a completed export',
      description: `Use the url of a manifest entry. Gzip-encoded when the client accepts it. See ${IG}#file-request`,
    }),
    EXPORT_ID,
    ApiParam({
      name: 'file',
      description: 'File name, e.g. Patient-1.ndjson.',
      schema: { type: 'string', pattern: '^[A-Za-z]+-[0-9]+\\.ndjson$' },
    }),
    ApiResponse({
      status: 200,
      description: 'The file: one FHIR resource per line.',
      content: { 'application/fhir+ndjson': { schema: { type: 'string' } } },
    }),
    operationOutcome(404, 'No such export or file'),
  );
}
