import { Controller, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiBearerToken, Principal } from '../auth/access/access.decorators';
import { AccessPrincipal } from '../auth/access/principal';
import { baseUrlOf } from '../common/base-url';
import { AppConfig } from '../config/app-config';
import { BundleService } from './bundle.service';
import { fhirJsonBody, parsePrefer } from '../common/fhir-request';
import { sendFhirResponse } from '../common/fhir-response';
import { ApiFhirBundle } from '../openapi/fhir-api.decorators';

/** Batch and transaction: `POST [base]` with a Bundle (https://hl7.org/fhir/R4/http.html#transaction). */
@Controller()
@ApiBearerToken()
export class BundleController {
  constructor(
    private readonly bundles: BundleService,
    private readonly config: AppConfig,
  ) {}

  @Post()
  @ApiFhirBundle()
  async process(
    @Req() req: Request,
    @Res() res: Response,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    const body = fhirJsonBody(req);
    const context = {
      baseUrl: baseUrlOf(req, this.config),
      prefer: parsePrefer(req.headers.prefer),
      principal,
    };
    sendFhirResponse(res, await this.bundles.process(body, context));
  }
}
