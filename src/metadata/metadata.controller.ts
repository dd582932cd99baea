import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { baseUrlOf } from '../common/base-url';
import { Public } from '../common/public-route';
import { AppConfig } from '../config/app-config';
import { sendFhirResponse } from '../common/fhir-response';
import { CapabilityStatementService } from './capability-statement.service';
import { ApiFhirCapabilities } from '../openapi/fhir-api.decorators';

/** The capabilities interaction: `GET [base]/metadata` (https://hl7.org/fhir/R4/http.html#capabilities). */
@Controller('metadata')
@Public()
export class MetadataController {
  constructor(
    private readonly capabilities: CapabilityStatementService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiFhirCapabilities()
  metadata(@Req() req: Request, @Res() res: Response): void {
    const statement = this.capabilities.build({ baseUrl: baseUrlOf(req, this.config) });
    sendFhirResponse(res, { status: 200, headers: {}, body: JSON.stringify(statement) });
  }
}
