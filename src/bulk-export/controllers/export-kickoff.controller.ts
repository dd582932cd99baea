import { Controller, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiBearerToken, Principal } from '../../auth/access/access.decorators';
import { AccessPrincipal } from '../../auth/access/principal';
import { auditNotes } from '../../auth/audit/audit-context';
import type { Request } from 'express';
import { AppConfig } from '../../config/app-config';
import { baseUrlOf } from '../../common/base-url';
import { FhirErrorCode, FhirException } from '../../common/fhir-exception';
import { BULK_DATA_TAG } from '../../openapi/openapi-tags';
import { ExportKickoffService } from '../export-kickoff.service';
import { ExportRequest } from '../export-request';
import { Kickoff } from '../pipes/kickoff-parameters.pipe';
import { KickoffRoute } from './export-api.decorators';

/**
 * Bulk Data IG "Bulk Data Kick-off Request" at system, Patient and Group level, by GET
 * (query parameters) or POST (a Parameters resource). Answers 202 with Content-Location.
 */
@ApiTags(BULK_DATA_TAG)
@Controller()
@ApiBearerToken()
export class ExportKickoffController {
  constructor(
    private readonly kickoff: ExportKickoffService,
    private readonly config: AppConfig,
  ) {}

  @KickoffRoute('system', 'GET')
  systemGet(
    @Kickoff() request: ExportRequest,
    @Req() req: Request,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    return this.accept(request, req, principal);
  }

  @KickoffRoute('patient', 'GET')
  patientGet(
    @Kickoff() request: ExportRequest,
    @Req() req: Request,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    return this.accept(request, req, principal);
  }

  @KickoffRoute('group', 'GET')
  groupGet(
    @Kickoff() request: ExportRequest,
    @Req() req: Request,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    return this.accept(request, req, principal);
  }

  @KickoffRoute('system', 'POST')
  systemPost(
    @Kickoff() request: ExportRequest,
    @Req() req: Request,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    return this.accept(request, req, principal);
  }

  @KickoffRoute('patient', 'POST')
  patientPost(
    @Kickoff() request: ExportRequest,
    @Req() req: Request,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    return this.accept(request, req, principal);
  }

  @KickoffRoute('group', 'POST')
  groupPost(
    @Kickoff() request: ExportRequest,
    @Req() req: Request,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    return this.accept(request, req, principal);
  }

  private async accept(
    request: ExportRequest,
    req: Request,
    principal: AccessPrincipal,
  ): Promise<void> {
    // The method check answers HEAD with 405 before it gets here; should a route ever bypass
    // it, a HEAD still must not start an export.
    if (req.method !== 'GET' && req.method !== 'POST') {
      throw new FhirException(
        FhirErrorCode.MethodNotAllowed,
        `Method ${req.method} is not supported on ${req.path}; it supports GET, POST, OPTIONS`,
        { headers: { Allow: 'GET, POST, OPTIONS' } },
      );
    }
    const base = baseUrlOf(req, this.config);
    const notes = auditNotes(req);
    notes.types = request.types;
    const started = await this.kickoff.kickOff(request, `${base}${req.originalUrl}`, principal);
    const id = started.id;
    notes.exportId = id;
    notes.types = started.request.types;
    req.res!.setHeader('Content-Location', `${base}/_operations/export/${id}`);
  }
}
