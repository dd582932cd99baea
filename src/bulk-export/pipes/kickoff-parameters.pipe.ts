import { createParamDecorator, ExecutionContext, Injectable, PipeTransform } from '@nestjs/common';
import type { Request } from 'express';
import { FhirException } from '../../common/fhir-exception';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { parseSearchQuery } from '../../search/search-query';
import { ExportLevel, ExportRequest } from '../export-request';
import { parseExportHeaders } from './export-headers.pipe';
import { parseExportParameters, parseExportQuery } from './export-parameters.pipe';

/** The raw kick-off input: which endpoint, GET query or POST body, and the Prefer handling. */
export interface RawKickoff {
  level: ExportLevel;
  groupId?: string;
  lenient: boolean;
  form: 'GET' | 'POST';
  input: unknown;
}

function levelOf(req: Request): ExportLevel {
  if (req.params.id !== undefined) return 'group';
  return req.path.startsWith('/Patient/') ? 'patient' : 'system';
}

/**
 * Collects the kick-off input of a `$export` request for {@link ExportParametersPipe}.
 * Lenient handling is read from `Prefer` (validated separately by ExportHeadersPipe).
 */
export const KickoffParameters = createParamDecorator((_: unknown, ctx: ExecutionContext) => {
  const req = ctx.switchToHttp().getRequest<Request>();
  const level = levelOf(req);
  const id = req.params.id;
  return {
    level,
    groupId: typeof id === 'string' ? id : undefined,
    lenient: parseExportHeaders(req.headers).lenient,
    form: req.method === 'POST' ? 'POST' : 'GET',
    input: req.method === 'POST' ? (req.body as unknown) : req.query,
  } satisfies RawKickoff;
});

/** Validates kick-off parameters of either form into one normalized {@link ExportRequest}. */
@Injectable()
export class ExportParametersPipe implements PipeTransform<RawKickoff, ExportRequest> {
  constructor(private readonly definitions: FhirDefinitions) {}

  transform(raw: RawKickoff): ExportRequest {
    const context = {
      level: raw.level,
      groupId: raw.groupId,
      lenient: raw.lenient,
      knownTypes: this.definitions,
    };
    const request =
      raw.form === 'POST'
        ? parseExportParameters(raw.input, context)
        : parseExportQuery(raw.input as Record<string, unknown>, context);
    return withoutUnsupported(this.withEvaluableFilters(request));
  }

  /**
   * Every `_typeFilter` must be a search this server can evaluate in SQL; under lenient handling
   * the parameters it cannot are dropped from that filter and reported as warnings.
   */
  private withEvaluableFilters(request: ExportRequest): ExportRequest {
    const warnings = [...request.warnings];
    for (const filter of request.typeFilters) {
      const text = `${filter.type}?${filter.query}`;
      try {
        const parsed = parseSearchQuery(filter.type, filter.query, this.definitions, {
          lenient: request.lenient,
          context: 'filter',
        });
        for (const ignored of parsed.ignored) {
          warnings.push(`_typeFilter ${text}: ${ignored.name} was not applied (${ignored.reason})`);
        }
      } catch (error) {
        if (!(error instanceof FhirException)) throw error;
        throw FhirException.badRequest(`_typeFilter ${text}: ${error.message}`, ['_typeFilter']);
      }
    }
    return { ...request, warnings };
  }
}

/**
 * Parameters that validate but that this server cannot apply yet. Ignoring them silently would
 * export more than asked, so strict handling refuses them and lenient handling drops them with
 * a warning in the manifest's error file (Bulk Data IG, "Query Parameters").
 */
function withoutUnsupported(request: ExportRequest): ExportRequest {
  const unsupported: string[] = [];
  if (request.includeAssociatedData) unsupported.push('includeAssociatedData');
  if (!unsupported.length) return request;
  if (!request.lenient) {
    const [first] = unsupported;
    throw FhirException.badRequest(
      `Parameter ${first} is not supported by this server yet; retry without it, or with ` +
        `'Prefer: handling=lenient' to export without applying it`,
      [first],
    );
  }
  return {
    ...request,
    includeAssociatedData: undefined,
    warnings: [
      ...request.warnings,
      ...unsupported.map((name) => `Parameter ${name} is not supported yet and was not applied`),
    ],
  };
}
