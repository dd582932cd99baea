import { Controller, Get, HttpCode, Next, Param, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiFhirSearch, ApiFhirSearchForm } from '../openapi/fhir-api.decorators';
import type { NextFunction, Request, Response } from 'express';
import { ApiBearerToken, RequirePermission } from '../auth/access/access.decorators';
import { requirePrincipal } from '../auth/access/principal';
import { ClaimsPaths } from '../common/allowed-methods';
import { baseUrlOf } from '../common/base-url';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { AppConfig } from '../config/app-config';
import { prefersLenient } from '../common/fhir-request';
import { sendFhirResponse } from '../common/fhir-response';
import { queryPairs } from './search-query';
import { SearchContext, SearchService } from './search.service';

const FORM = 'application/x-www-form-urlencoded';
const MAX_FORM_BYTES = 1024 * 1024;

/**
 * Whether `/{type}` is a resource type route: `metadata`, `health`, `docs`, `admin`,
 * `_operations`, `$export` and other lower-case or operation segments belong to other routes.
 */
function isTypeRoute(type: string): boolean {
  return /^[A-Z]/.test(type);
}

/** {@link isTypeRoute} for the allowed methods of a path (405 and `Allow`). */
const TYPE_PATHS = ClaimsPaths(({ type }) => isTypeRoute(type ?? ''));

/** The raw query string, percent-escapes untouched, so escaped `,` `|` `$` keep their meaning. */
function rawQuery(req: Request): string {
  const url = req.originalUrl;
  const question = url.indexOf('?');
  return question < 0 ? '' : url.slice(question + 1);
}

/** The url-encoded form body of POST `_search`, read here since the app parses only JSON. */
async function formBody(req: Request): Promise<string> {
  const length = Number(req.get('content-length') ?? '0');
  if (!req.readable || (length === 0 && req.get('transfer-encoding') === undefined)) return '';
  if (!req.is(FORM)) {
    throw new FhirException(
      FhirErrorCode.UnsupportedMediaType,
      `POST _search takes ${FORM} parameters, not ${req.get('content-type') ?? 'an untyped body'}`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) {
      throw new FhirException(
        FhirErrorCode.PayloadTooLarge,
        `Search form exceeds ${MAX_FORM_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** FHIR type-level search, GET and POST forms (https://hl7.org/fhir/R4/http.html#search). */
@ApiTags('Search')
@Controller()
@ApiBearerToken()
export class SearchController {
  constructor(
    private readonly searches: SearchService,
    private readonly config: AppConfig,
  ) {}

  /** `GET [base]/[type]?params` */
  @Get(':type')
  @TYPE_PATHS
  @RequirePermission('s')
  @ApiFhirSearch()
  async search(
    @Param('type') type: string,
    @Req() req: Request,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isTypeRoute(type)) return next();
    const pairs = queryPairs(rawQuery(req));
    sendFhirResponse(res, await this.searches.search(type, pairs, this.context(req)));
  }

  /** `POST [base]/[type]/_search` with url-encoded parameters in the body (and the URL). */
  @Post(':type/_search')
  @TYPE_PATHS
  @HttpCode(200)
  @RequirePermission('s')
  @ApiFhirSearchForm()
  async searchForm(
    @Param('type') type: string,
    @Req() req: Request,
    @Res() res: Response,
    @Next() next: NextFunction,
  ): Promise<void> {
    if (!isTypeRoute(type)) return next();
    const pairs = [...queryPairs(rawQuery(req)), ...queryPairs(await formBody(req))];
    sendFhirResponse(res, await this.searches.search(type, pairs, this.context(req)));
  }

  private context(req: Request): SearchContext {
    return {
      baseUrl: baseUrlOf(req, this.config),
      lenient: prefersLenient(req.headers.prefer),
      principal: requirePrincipal(req),
    };
  }
}
