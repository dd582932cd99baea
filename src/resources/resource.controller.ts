import { Controller, Delete, Get, Next, Param, Post, Put, Req, Res } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { requirePermission } from '../auth/access/access-policy';
import { ApiBearerToken, RequirePermission } from '../auth/access/access.decorators';
import { requirePrincipal } from '../auth/access/principal';
import { ClaimsPaths } from '../common/allowed-methods';
import { baseUrlOf } from '../common/base-url';
import { AppConfig } from '../config/app-config';
import {
  fhirJsonBody,
  isOperationSegment,
  parseIfMatch,
  parsePrefer,
} from '../common/fhir-request';
import { sendFhirResponse } from '../common/fhir-response';
import { ResourceService, RestContext } from './resource.service';
import {
  ApiFhirCreate,
  ApiFhirDelete,
  ApiFhirHistory,
  ApiFhirRead,
  ApiFhirUpdate,
  ApiFhirVread,
} from '../openapi/fhir-api.decorators';

/**
 * Whether `/{type}/{id}` is ours. Operations (`$export`, `_history`, `_search`...) and
 * lower-case segments (`metadata`, `health`, `admin`, `_operations`) belong to other routes,
 * which Express tries next; a capitalised segment is a resource type, known or not, so an
 * unknown one gets a FHIR 404 from the service rather than a bare "Cannot GET".
 */
function isResourceRoute(type: string, id?: string): boolean {
  if (id !== undefined && isOperationSegment(id)) return false;
  return /^[A-Z]/.test(type);
}

/** {@link isResourceRoute} for the allowed methods of a path (405 and `Allow`). */
const RESOURCE_PATHS = ClaimsPaths(({ type, id }) => isResourceRoute(type ?? '', id));

/** The FHIR RESTful instance interactions and create (https://hl7.org/fhir/R4/http.html). */
@Controller()
@ApiBearerToken()
export class ResourceController {
  constructor(
    private readonly resources: ResourceService,
    private readonly config: AppConfig,
  ) {}

  /** FHIR create: `POST [base]/[type]`, conditional with If-None-Exist. */
  @Post(':type')
  @RESOURCE_PATHS
  @RequirePermission('c')
  @ApiFhirCreate()
  async create(
    @Param('type') type: string,
    @Req() req: Request,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isResourceRoute(type)) return next();
    const body = fhirJsonBody(req);
    const ifNoneExist = req.get('if-none-exist');
    if (ifNoneExist !== undefined) {
      // A conditional create answers with the match it finds: a search.
      this.resources.checkType(type);
      requirePermission(requirePrincipal(req), [type], ['s'], ['If-None-Exist']);
    }
    sendFhirResponse(res, await this.resources.create(type, body, this.context(req), ifNoneExist));
  }

  /** FHIR read: `GET [base]/[type]/[id]`. */
  @Get(':type/:id')
  @RESOURCE_PATHS
  @RequirePermission('r')
  @ApiFhirRead()
  async read(
    @Param('type') type: string,
    @Param('id') id: string,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isResourceRoute(type, id)) return next();
    sendFhirResponse(res, await this.resources.read(type, id));
  }

  /** FHIR update (and update-as-create): `PUT [base]/[type]/[id]`, optional If-Match. */
  @Put(':type/:id')
  @RESOURCE_PATHS
  @RequirePermission('u')
  @ApiFhirUpdate()
  async update(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isResourceRoute(type, id)) return next();
    const body = fhirJsonBody(req);
    const ifMatch = parseIfMatch(req.headers['if-match']);
    sendFhirResponse(res, await this.resources.update(type, id, body, ifMatch, this.context(req)));
  }

  /** FHIR delete: `DELETE [base]/[type]/[id]`, optional If-Match. */
  @Delete(':type/:id')
  @RESOURCE_PATHS
  @RequirePermission('d')
  @ApiFhirDelete()
  async delete(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isResourceRoute(type, id)) return next();
    const ifMatch = parseIfMatch(req.headers['if-match']);
    sendFhirResponse(res, await this.resources.delete(type, id, ifMatch));
  }

  /** FHIR instance history: `GET [base]/[type]/[id]/_history`. */
  @Get(':type/:id/_history')
  @RESOURCE_PATHS
  @RequirePermission('r')
  @ApiFhirHistory()
  async history(
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isResourceRoute(type, id)) return next();
    sendFhirResponse(res, await this.resources.history(type, id, req.query, this.context(req)));
  }

  /** FHIR vread: `GET [base]/[type]/[id]/_history/[vid]`. */
  @Get(':type/:id/_history/:vid')
  @RESOURCE_PATHS
  @RequirePermission('r')
  @ApiFhirVread()
  async vread(
    @Param('type') type: string,
    @Param('id') id: string,
    @Param('vid') vid: string,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isResourceRoute(type, id)) return next();
    sendFhirResponse(res, await this.resources.vread(type, id, vid));
  }

  private context(req: Request): RestContext {
    return { baseUrl: baseUrlOf(req, this.config), prefer: parsePrefer(req.headers.prefer) };
  }
}
