import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { OperationOutcomeDto } from './schemas.dto';

/** `GET /health/live`: the process answers. */
export const ApiLiveness = () =>
  applyDecorators(
    ApiOperation({ operationId: 'getLiveness', summary: 'Liveness probe' }),
    ApiResponse({
      status: 200,
      description: 'The process is up.',
      schema: { type: 'object', required: ['status'], properties: { status: { enum: ['ok'] } } },
    }),
  );

/** `GET /health/ready`: every dependency answers. @HealthCheck() documents the 200 body. */
export const ApiReadiness = () =>
  applyDecorators(
    ApiOperation({
      operationId: 'getReadiness',
      summary: 'Readiness probe (database, Redis, storage)',
    }),
    ApiResponse({
      status: 503,
      description: 'Not ready; the issue names the dependencies that are down.',
      // @HealthCheck() documents 503 with a terminus result schema, but the exception filter
      // answers an OperationOutcome: clear that schema in the merged entry.
      schema: undefined,
      content: {
        'application/fhir+json': { schema: { $ref: getSchemaPath(OperationOutcomeDto) } },
      },
    }),
  );
