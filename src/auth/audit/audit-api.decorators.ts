import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AUTH_TAG } from '../auth-api.decorators';
import { AUDIT_ACTIONS, AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX } from './audit-log.service';

const AUDIT_EVENT = {
  type: 'object',
  required: ['id', 'at', 'action', 'client_id', 'export_id', 'types', 'outcome'],
  properties: {
    id: { type: 'string', pattern: '^[0-9]+$', description: 'Increasing; the paging cursor' },
    at: { type: 'string', format: 'date-time' },
    action: { type: 'string', enum: [...AUDIT_ACTIONS] },
    client_id: { type: 'string', nullable: true },
    export_id: { type: 'string', format: 'uuid', nullable: true },
    types: { type: 'array', items: { type: 'string' }, nullable: true },
    outcome: { type: 'integer', description: 'The HTTP status answered' },
    detail: { type: 'string', nullable: true },
    remote_address: { type: 'string', nullable: true },
  },
};

const OPERATION_OUTCOME = {
  type: 'object',
  required: ['resourceType', 'issue'],
  properties: { resourceType: { type: 'string', enum: ['OperationOutcome'] } },
};

/**
 * `GET /admin/audit`. The operator security scheme comes from `@OperatorOnly()` on the
 * controller; declaring it here too would list it twice.
 */
export const ApiListAuditEvents = () =>
  applyDecorators(
    ApiTags(AUTH_TAG),
    ApiOperation({
      operationId: 'listAuditEvents',
      summary:
        'Audit log of tokens issued or refused and export calls, newest first (operators only)',
    }),
    ApiQuery({ name: 'client_id', required: false, type: 'string' }),
    ApiQuery({ name: 'action', required: false, enum: [...AUDIT_ACTIONS] }),
    ApiQuery({ name: 'export_id', required: false, type: 'string', format: 'uuid' }),
    ApiQuery({
      name: 'since',
      required: false,
      type: 'string',
      format: 'date-time',
      description: 'Events at or after this instant',
    }),
    ApiQuery({
      name: 'before',
      required: false,
      type: 'string',
      description: 'Events older than this id (the `next` link sets it)',
    }),
    ApiQuery({
      name: '_count',
      required: false,
      schema: {
        type: 'integer',
        minimum: 1,
        maximum: AUDIT_PAGE_MAX,
        default: AUDIT_PAGE_DEFAULT,
      },
    }),
    ApiResponse({
      status: 200,
      description: 'A page of events; `next` is there when the page is full.',
      schema: {
        type: 'object',
        required: ['events'],
        properties: {
          events: { type: 'array', items: AUDIT_EVENT },
          next: { type: 'string', format: 'uri' },
        },
      },
    }),
    ApiResponse({
      status: 400,
      description: 'A query parameter is invalid.',
      schema: OPERATION_OUTCOME,
    }),
    ApiResponse({ status: 401, description: 'Operator credentials (HTTP Basic) required.' }),
  );
