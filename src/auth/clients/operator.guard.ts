import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { isOperator, OPERATOR_CHALLENGE } from '../../common/operator-credentials';
import { AppConfig } from '../../config/app-config';

/**
 * HTTP Basic with the operator credentials (ADMIN_CREDENTIALS), as Bull Board asks for them.
 * Without credentials configured the client administration does not exist (404).
 */
@Injectable()
export class OperatorGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const credentials = this.config.ADMIN_CREDENTIALS;
    if (!credentials) {
      throw FhirException.notFound('Client administration is off: ADMIN_CREDENTIALS is unset');
    }
    const { authorization } = context.switchToHttp().getRequest<Request>().headers;
    if (isOperator(authorization, credentials)) return true;
    throw new FhirException(FhirErrorCode.Unauthorized, 'Operator credentials required', {
      headers: { 'WWW-Authenticate': OPERATOR_CHALLENGE },
    });
  }
}
