import { Controller, Delete, Get, HttpCode, Param, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiBearerToken, Principal } from '../../auth/access/access.decorators';
import { AccessPrincipal } from '../../auth/access/principal';
import { auditNotes } from '../../auth/audit/audit-context';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { AppConfig } from '../../config/app-config';
import { baseUrlOf } from '../../common/base-url';
import { FHIR_JSON, FHIR_NDJSON } from '../../common/fhir-content-types';
import { ExportCancelService } from '../export-cancel.service';
import { ExportStatusService } from '../export-status.service';
import { StatusPollLimiter } from '../status-poll-limiter';
import { BULK_DATA_TAG } from '../../openapi/openapi-tags';
import { ApiExportCancel, ApiExportFile, ApiExportStatus } from './export-api.decorators';

/** Bulk Data IG: "Bulk Data Status Request", "Bulk Data Delete Request" and output file download. */
@ApiTags(BULK_DATA_TAG)
@Controller('_operations/export')
@ApiBearerToken()
export class ExportStatusController {
  constructor(
    private readonly status: ExportStatusService,
    private readonly cancel: ExportCancelService,
    private readonly limiter: StatusPollLimiter,
    private readonly config: AppConfig,
  ) {}

  /** 202 with X-Progress while running, 200 with the manifest when complete, the error when failed. */
  @Get(':id')
  @ApiExportStatus()
  async poll(
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    this.limiter.take(principal.clientId, id);
    const view = await this.status.status(id, baseUrlOf(req, this.config), principal);
    switch (view.kind) {
      case 'in-progress':
        res
          .status(202)
          .set({ 'X-Progress': view.progress, 'Retry-After': String(view.retryAfterSeconds) })
          .end();
        return;
      case 'failed':
        res.status(view.httpStatus).type(FHIR_JSON).send(JSON.stringify(view.outcome));
        return;
      case 'complete':
        // Expires: when the files stop being available (Bulk Data IG, "Response - Complete
        // Status"). no-store keeps caches from serving the manifest (and any SAS links in it,
        // which expire sooner) until then.
        if (view.expires) res.set('Expires', view.expires.toUTCString());
        res
          .status(200)
          .set('Cache-Control', 'no-store')
          .type('application/json')
          .send(JSON.stringify(view.manifest));
        return;
    }
  }

  /** Cancels a running job or discards a finished one and its files. */
  @Delete(':id')
  @ApiExportCancel()
  @HttpCode(202)
  async remove(@Param('id') id: string, @Principal() principal: AccessPrincipal): Promise<void> {
    await this.cancel.cancel(id, principal);
  }

  /** Streams an output file; gzip when the client accepts it. */
  @Get(':id/:file')
  @ApiExportFile()
  async download(
    @Param('id') id: string,
    @Param('file') file: string,
    @Req() req: Request,
    @Res() res: Response,
    @Principal() principal: AccessPrincipal,
  ): Promise<void> {
    const { type, stream } = await this.status.file(id, file, principal);
    auditNotes(req).types = [type];
    res.status(200).type(FHIR_NDJSON).setHeader('Vary', 'Accept-Encoding');
    if (req.acceptsEncodings('gzip', 'identity') === 'gzip') {
      res.setHeader('Content-Encoding', 'gzip');
      await pipeline(stream, createGzip({ level: 1 }), res);
    } else {
      await pipeline(stream, res);
    }
  }
}
