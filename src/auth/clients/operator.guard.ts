import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { AppConfig } from '../../config/app-config';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

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
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const given = header.startsWith('Basic ')
      ? Buffer.from(header.slice(6), 'base64').toString('utf8')
      : '';
    if (sameSecret(given, credentials)) return true;
    throw new FhirException(FhirErrorCode.Unauthorized, 'Operator credentials required', {
      headers: { 'WWW-Authenticate': 'Basic realm="operators", charset="UTF-8"' },
    });
  }
}
