import { Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppConfig } from '../../config/app-config';
import { baseUrlOf } from '../../common/base-url';
import { ExportKickoffService } from '../export-kickoff.service';
import { ExportRequest } from '../export-request';
import { ExportHeaders, ExportHeadersPipe, KickoffHeaders } from '../pipes/export-headers.pipe';
import { ExportParametersPipe, KickoffParameters } from '../pipes/kickoff-parameters.pipe';
import { BULK_DATA_TAG, ApiExportKickoff } from '../../openapi/export-api.decorators';

/**
 * Bulk Data IG "Bulk Data Kick-off Request" at system, Patient and Group level, by GET
 * (query parameters) or POST (a Parameters resource). Answers 202 with Content-Location.
 */
@ApiTags(BULK_DATA_TAG)
@Controller()
export class ExportKickoffController {
  constructor(
    private readonly kickoff: ExportKickoffService,
    private readonly config: AppConfig,
  ) {}

  @Get('\\$export')
  @ApiExportKickoff('system', 'GET')
  @HttpCode(202)
  async systemGet(
    @KickoffHeaders(ExportHeadersPipe) _headers: ExportHeaders,
    @KickoffParameters(ExportParametersPipe) request: ExportRequest,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    await this.accept(request, req, res);
  }

  @Get('Patient/\\$export')
  @ApiExportKickoff('patient', 'GET')
  @HttpCode(202)
  async patientGet(
    @KickoffHeaders(ExportHeadersPipe) _headers: ExportHeaders,
    @KickoffParameters(ExportParametersPipe) request: ExportRequest,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    await this.accept(request, req, res);
  }

  @Get('Group/:id/\\$export')
  @ApiExportKickoff('group', 'GET')
  @HttpCode(202)
  async groupGet(
    @KickoffHeaders(ExportHeadersPipe) _headers: ExportHeaders,
    @KickoffParameters(ExportParametersPipe) request: ExportRequest,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    await this.accept(request, req, res);
  }

  @Post('\\$export')
  @ApiExportKickoff('system', 'POST')
  @HttpCode(202)
  async systemPost(
    @KickoffHeaders(ExportHeadersPipe) _headers: ExportHeaders,
    @KickoffParameters(ExportParametersPipe) request: ExportRequest,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    await this.accept(request, req, res);
  }

  @Post('Patient/\\$export')
  @ApiExportKickoff('patient', 'POST')
  @HttpCode(202)
  async patientPost(
    @KickoffHeaders(ExportHeadersPipe) _headers: ExportHeaders,
    @KickoffParameters(ExportParametersPipe) request: ExportRequest,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    await this.accept(request, req, res);
  }

  @Post('Group/:id/\\$export')
  @ApiExportKickoff('group', 'POST')
  @HttpCode(202)
  async groupPost(
    @KickoffHeaders(ExportHeadersPipe) _headers: ExportHeaders,
    @KickoffParameters(ExportParametersPipe) request: ExportRequest,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    await this.accept(request, req, res);
  }

  private async accept(request: ExportRequest, req: Request, res: Response): Promise<void> {
    const base = baseUrlOf(req, this.config);
    const id = await this.kickoff.kickOff(request, `${base}${req.originalUrl}`, '');
    res.setHeader('Content-Location', `${base}/_operations/export/${id}`);
  }
}
