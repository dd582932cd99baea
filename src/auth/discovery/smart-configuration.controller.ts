import { Controller, Get, Req } from '@nestjs/common';
import type { Request } from 'express';
import { baseUrlOf } from '../../common/base-url';
import { Public } from '../../common/public-route';
import { AppConfig } from '../../config/app-config';
import { ApiSmartConfiguration } from '../auth-api.decorators';
import { tokenUrlOf } from '../auth-paths';
import { ASSERTION_ALGORITHMS } from '../token/client-assertion.service';

/** The scopes advertised in `scopes_supported`; any resource type may stand for `*`. */
export const SCOPES_SUPPORTED = [
  'system/*.read',
  'system/*.write',
  'system/*.*',
  'system/*.rs',
  'system/*.cud',
  'system/*.cruds',
];

/**
 * SMART discovery: `GET [base]/.well-known/smart-configuration` (SMART App Launch,
 * "Conformance"; Backend Services "Discovery requirements").
 */
@Controller('.well-known')
@Public()
export class SmartConfigurationController {
  constructor(private readonly config: AppConfig) {}

  @Get('smart-configuration')
  @ApiSmartConfiguration()
  smartConfiguration(@Req() req: Request): Record<string, unknown> {
    return {
      token_endpoint: tokenUrlOf(baseUrlOf(req, this.config)),
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
      scopes_supported: SCOPES_SUPPORTED,
      capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
    };
  }
}
