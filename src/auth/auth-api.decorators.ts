import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';

/** Tag grouping discovery, the token endpoint and client administration. */
export const AUTH_TAG = 'Authorization (SMART Backend Services)';

const OAUTH_ERROR = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'string',
      enum: [
        'invalid_request',
        'invalid_client',
        'invalid_grant',
        'unsupported_grant_type',
        'invalid_scope',
        'invalid_client_metadata',
        'temporarily_unavailable',
      ],
    },
    error_description: { type: 'string' },
  },
};

const CLIENT = {
  type: 'object',
  required: ['client_id', 'scope'],
  properties: {
    client_id: { type: 'string' },
    jwks: {
      type: 'object',
      description: 'Inline JWK Set of public keys (each with a kid)',
      required: ['keys'],
      properties: {
        keys: { type: 'array', items: { type: 'object', additionalProperties: true } },
      },
    },
    jwks_uri: { type: 'string', format: 'uri' },
    scope: { type: 'string', description: 'Space-separated system/ scopes the client may get' },
    containers: { type: 'array', items: { type: 'string' } },
    max_concurrent_exports: { type: 'integer', minimum: 1, nullable: true },
    token_endpoint_auth_method: { type: 'string', enum: ['private_key_jwt'] },
    grant_types: { type: 'array', items: { type: 'string', enum: ['client_credentials'] } },
    client_id_issued_at: { type: 'integer' },
    revoked_at: { type: 'string', format: 'date-time' },
  },
};

/** `GET /.well-known/smart-configuration`. */
export const ApiSmartConfiguration = () =>
  applyDecorators(
    ApiTags(AUTH_TAG),
    ApiOperation({
      operationId: 'getSmartConfiguration',
      summary:
        'SMART configuration (SMART App Launch, Conformance: .well-known/smart-configuration)',
    }),
    ApiProduces('application/json'),
    ApiResponse({
      status: 200,
      description: 'The token endpoint and what it supports.',
      schema: { type: 'object', required: ['token_endpoint', 'capabilities'] },
    }),
  );

/** `POST /auth/token`. */
export const ApiToken = () =>
  applyDecorators(
    ApiTags(AUTH_TAG),
    ApiOperation({
      operationId: 'requestAccessToken',
      summary: 'Token endpoint: client credentials grant with a JWT client assertion',
    }),
    ApiConsumes('application/x-www-form-urlencoded'),
    ApiProduces('application/json'),
    ApiBody({
      schema: {
        type: 'object',
        required: ['grant_type', 'client_assertion_type', 'client_assertion', 'scope'],
        properties: {
          grant_type: { type: 'string', enum: ['client_credentials'] },
          client_assertion_type: {
            type: 'string',
            enum: ['urn:ietf:params:oauth:client-assertion-type:jwt-bearer'],
          },
          client_assertion: { type: 'string' },
          scope: { type: 'string' },
        },
      },
    }),
    ApiResponse({
      status: 200,
      description: 'The access token.',
      schema: {
        type: 'object',
        required: ['access_token', 'token_type', 'expires_in', 'scope'],
        properties: {
          access_token: { type: 'string' },
          token_type: { type: 'string', enum: ['bearer'] },
          expires_in: { type: 'integer' },
          scope: { type: 'string' },
        },
      },
    }),
    ApiResponse({ status: 400, description: 'RFC 6749 5.2 error.', schema: OAUTH_ERROR }),
    ApiResponse({
      status: 503,
      description: 'The replay store is unavailable.',
      schema: OAUTH_ERROR,
    }),
  );

// Operator endpoints take HTTP Basic (ADMIN_CREDENTIALS); the document declares no security
// scheme yet, so it is said in the 401 description rather than with @ApiBasicAuth.
const OPERATOR = () => applyDecorators(ApiTags(AUTH_TAG));

/** `POST /admin/clients`. */
export const ApiRegisterClient = () =>
  applyDecorators(
    OPERATOR(),
    ApiOperation({
      operationId: 'registerClient',
      summary: 'Register a backend services client (RFC 7591 client metadata; operators only)',
    }),
    ApiBody({ schema: CLIENT }),
    ApiResponse({ status: 201, description: 'Registered.', schema: CLIENT }),
    ApiResponse({ status: 400, description: 'invalid_client_metadata', schema: OAUTH_ERROR }),
    ApiResponse({ status: 401, description: 'Operator credentials (HTTP Basic) required.' }),
    ApiResponse({ status: 409, description: 'The client_id is taken.', schema: OAUTH_ERROR }),
  );

/** `GET /admin/clients`. */
export const ApiListClients = () =>
  applyDecorators(
    OPERATOR(),
    ApiOperation({ operationId: 'listClients', summary: 'Registered clients (operators only)' }),
    ApiResponse({
      status: 200,
      description: 'Every client.',
      schema: { type: 'array', items: CLIENT },
    }),
    ApiResponse({ status: 401, description: 'Operator credentials (HTTP Basic) required.' }),
  );

/** `DELETE /admin/clients/{client_id}`. */
export const ApiRevokeClient = () =>
  applyDecorators(
    OPERATOR(),
    ApiOperation({
      operationId: 'revokeClient',
      summary: 'Revoke a client at once: its tokens stop working (operators only)',
    }),
    ApiParam({ name: 'client_id', type: 'string' }),
    ApiResponse({ status: 204, description: 'Revoked.' }),
    ApiResponse({ status: 401, description: 'Operator credentials (HTTP Basic) required.' }),
    ApiResponse({ status: 404, description: 'No active client of that id.' }),
  );
