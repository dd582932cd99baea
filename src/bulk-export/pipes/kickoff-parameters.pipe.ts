import { createParamDecorator, ExecutionContext, Injectable, PipeTransform } from '@nestjs/common';
import type { Request } from 'express';
import { FhirException } from '../../common/fhir-exception';
import { FhirDefinitions } from '../../fhir/fhir-definitions.service';
import { PatientCompartment } from '../../fhir/patient-compartment.service';
import { SearchParameters } from '../../search/search-parameters';
import { parseSearchQuery } from '../../search/search-query';
import { ExportLevel, ExportRequest } from '../export-request';
import { parseExportHeaders } from './export-headers';
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
 * Collects the kick-off input of a `$export` request for {@link ExportParametersPipe}, after
 * checking its `Accept` and `Prefer` headers (which also say whether handling is lenient).
 */
const KickoffParameters = createParamDecorator((_: unknown, ctx: ExecutionContext) => {
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

/** The validated {@link ExportRequest} of a kick-off handler: headers, then parameters. */
export const Kickoff = (): ParameterDecorator => KickoffParameters(ExportParametersPipe);

/** Validates kick-off parameters of either form into one normalized {@link ExportRequest}. */
@Injectable()
export class ExportParametersPipe implements PipeTransform<RawKickoff, ExportRequest> {
  constructor(
    private readonly definitions: FhirDefinitions,
    private readonly compartment: PatientCompartment,
    private readonly searchParameters: SearchParameters,
  ) {}

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
    return withoutUnsupported(this.withEvaluableFilters(this.withCompartmentTypes(request)));
  }

  /**
   * Patient and Group exports hold Patient-compartment data only; a `_type` outside it would
   * silently export nothing, so it is refused (lenient: dropped with a warning).
   */
  private withCompartmentTypes(request: ExportRequest): ExportRequest {
    if (request.level === 'system' || !request.types) return request;
    const outside = request.types.filter((type) => !this.compartment.isCompartmentType(type));
    if (!outside.length) return request;
    const message = `_type ${outside.join(',')} is not in the Patient compartment, which a ${request.level}-level export is limited to`;
    if (!request.lenient) throw FhirException.badRequest(message, ['_type']);
    return {
      ...request,
      types: request.types.filter((type) => this.compartment.isCompartmentType(type)),
      warnings: [...request.warnings, `${message}; skipped`],
    };
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
        const parsed = parseSearchQuery(filter.type, filter.query, this.searchParameters, {
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
 * `includeAssociatedData` values this server applies: the IG's two Provenance codes. A `_custom`
 * value validates (the IG reserves the prefix for server-defined data) but means nothing here;
 * ignoring it silently would export less than asked, so strict handling refuses it and lenient
 * handling drops it with a warning in the manifest's error file (Bulk Data IG, "Query
 * Parameters").
 */
function withoutUnsupported(request: ExportRequest): ExportRequest {
  const values = request.includeAssociatedData ?? [];
  const unsupported = values.filter((v) => v.startsWith('_custom'));
  if (!unsupported.length) return request;
  if (!request.lenient) {
    throw FhirException.badRequest(
      `includeAssociatedData ${unsupported.map((v) => `'${v}'`).join(', ')} is not supported ` +
        `by this server (it supports LatestProvenanceResources and RelevantProvenanceResources); ` +
        `retry without it, or with 'Prefer: handling=lenient' to export without applying it`,
      ['includeAssociatedData'],
    );
  }
  const supported = values.filter((v) => !v.startsWith('_custom'));
  return {
    ...request,
    includeAssociatedData: supported.length ? supported : undefined,
    warnings: [
      ...request.warnings,
      ...unsupported.map(
        (v) => `includeAssociatedData '${v}' is not supported by this server and was not applied`,
      ),
    ],
  };
}
