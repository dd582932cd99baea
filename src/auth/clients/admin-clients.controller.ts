import { Body, Controller, Delete, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { FhirException } from '../../common/fhir-exception';
import { AppConfig } from '../../config/app-config';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { ApiListClients, ApiRegisterClient, ApiRevokeClient } from '../auth-api.decorators';
import { OAuthError, sendOAuthError } from '../oauth-error';
import { ClientMetadataError, parseClientMetadata } from './client-metadata';
import { ClientRegistry, RegisteredClient } from './client-registry.service';
import { OperatorOnly } from '../access/access.decorators';

/**
 * Client administration for operators (HTTP Basic, ADMIN_CREDENTIALS): register a SMART
 * Backend Services client with RFC 7591 client metadata, list the clients, revoke one.
 */
@Controller('admin/clients')
@OperatorOnly()
export class AdminClientsController {
  constructor(
    private readonly registry: ClientRegistry,
    private readonly definitions: FhirDefinitions,
    private readonly config: AppConfig,
  ) {}

  /** RFC 7591 3.1-3.2: 201 with the registered metadata, or 400 `invalid_client_metadata`. */
  @Post()
  @ApiRegisterClient()
  async register(@Body() body: unknown, @Res() res: Response): Promise<void> {
    let metadata;
    try {
      metadata = parseClientMetadata(body, {
        isResourceType: (t) => this.definitions.isResourceType(t),
        allowLoopbackJwks: this.config.AUTH_ALLOW_LOOPBACK_JWKS,
      });
    } catch (error) {
      if (!(error instanceof ClientMetadataError)) throw error;
      sendOAuthError(res, new OAuthError('invalid_client_metadata', error.message));
      return;
    }
    const result = await this.registry.register(metadata);
    if ('conflict' in result) {
      const why =
        result.conflict === 'revoked'
          ? 'was revoked and cannot be reused'
          : 'is already registered';
      sendOAuthError(
        res,
        new OAuthError('invalid_client_metadata', `client_id ${metadata.client_id} ${why}`, 409),
      );
      return;
    }
    res.status(201).set('Cache-Control', 'no-store').json(result.created);
  }

  @Get()
  @ApiListClients()
  list(): Promise<RegisteredClient[]> {
    return this.registry.list();
  }

  /** Revokes at once: the client's assertions and access tokens are refused from now on. */
  @Delete(':client_id')
  @HttpCode(204)
  @ApiRevokeClient()
  async revoke(@Param('client_id') clientId: string): Promise<void> {
    if (!(await this.registry.revoke(clientId))) {
      throw FhirException.notFound(`No active client ${clientId}`);
    }
  }
}
