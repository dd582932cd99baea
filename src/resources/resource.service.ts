import { Injectable } from '@nestjs/common';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { FhirIssuesException } from '../common/fhir-issues';
import { operationOutcome } from '../common/operation-outcome';
import { FhirDefinitions } from '../fhir/fhir-definitions.service';
import { ResourceValidator } from '../fhir/resource-validator';
import { FHIR_ID, PreferReturn } from '../common/fhir-request';
import { etagOf, FhirResponse } from '../common/fhir-response';
import { parseIdentifierCondition } from './identifier-condition';
import {
  FhirResource,
  IdentifierCondition,
  ResourceRepository,
  ResourceSession,
  StoredResource,
} from './resource.repository';

/** What a REST interaction needs to know about the request beyond its parameters. */
export interface RestContext {
  /** Service base URL without trailing slash (see `baseUrlOf`). */
  baseUrl: string;
  prefer: PreferReturn;
}

/** Query parameters of a history request as Express parsed them; `ct` is the paging cursor. */
export type HistoryQuery = Record<string, unknown>;

const UNSUPPORTED_HISTORY_PARAMETERS = ['_since', '_at', '_list'];

const DEFAULT_HISTORY_COUNT = 50;
const MAX_HISTORY_COUNT = 1000;
const MAX_VERSION = 2_147_483_647;

/** `201 Created`, `404 Not Found`... as Bundle.entry.response.status wants them. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trim();
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
};

export function locationOf(stored: StoredResource, baseUrl: string): string {
  return `${baseUrl}/${stored.type}/${stored.id}/_history/${stored.versionId}`;
}

/** ETag, Last-Modified and (for writes) Location of one stored version. */
export function versionHeaders(
  stored: StoredResource,
  baseUrl: string,
  withLocation: boolean,
): Record<string, string> {
  return {
    ETag: etagOf(stored.versionId),
    'Last-Modified': stored.lastUpdated.toUTCString(),
    ...(withLocation ? { Location: locationOf(stored, baseUrl) } : {}),
  };
}

/**
 * The FHIR RESTful interactions on one resource instance (https://hl7.org/fhir/R4/http.html):
 * create, read, vread, update (with update-as-create), delete and instance history. Answers
 * carry the stored JSON text as it is, never re-serialised.
 */
@Injectable()
export class ResourceService {
  constructor(
    private readonly repository: ResourceRepository,
    private readonly definitions: FhirDefinitions,
    private readonly validator: ResourceValidator,
  ) {}

  /**
   * FHIR create (http.html#create): the server assigns the id; one in the body is ignored.
   * With `ifNoneExist` (the If-None-Exist header) a conditional create (http.html#ccreate):
   * when one resource already matches, nothing is written and it is returned with 200.
   */
  async create(
    type: string,
    body: unknown,
    context: RestContext,
    ifNoneExist?: string,
  ): Promise<FhirResponse> {
    this.checkType(type);
    const resource = this.checkResource(type, body);
    const condition =
      ifNoneExist === undefined
        ? undefined
        : parseIdentifierCondition(ifNoneExist, 'If-None-Exist');
    const { stored, created } = await this.repository.inTransaction(async (session) => {
      const existing = condition
        ? await this.findIfNoneExist(session, type, condition, ifNoneExist!)
        : undefined;
      if (existing) return { stored: existing, created: false };
      return { stored: await session.create(resource), created: true };
    });
    return this.writeResponse(
      created ? 201 : 200,
      stored,
      context,
      created ? 'Created' : 'Matched',
    );
  }

  /**
   * The resource a conditional create matches, if any; 412 when several do (http.html#ccreate).
   * Locks the condition for the rest of the transaction so concurrent creates take turns.
   */
  async findIfNoneExist(
    session: ResourceSession,
    type: string,
    condition: IdentifierCondition,
    query: string,
  ): Promise<StoredResource | undefined> {
    const found = await session.findByIdentifier(type, condition, { lock: true });
    if (found.length > 1) {
      throw new FhirException(
        FhirErrorCode.PreconditionFailed,
        `Conditional create ${JSON.stringify(query)} matches ${found.length} ${type} resources`,
      );
    }
    return found[0];
  }

  /** FHIR read (http.html#read): 404 when unknown, 410 when the current version is a delete. */
  async read(type: string, id: string): Promise<FhirResponse> {
    this.checkType(type);
    this.checkId(id);
    const stored = await this.repository.read(type, id);
    if (!stored) throw FhirException.notFound(`${type}/${id} is not known`);
    return this.readResponse(stored, `${type}/${id} has been deleted`);
  }

  /** FHIR vread (http.html#vread): 410 when that version records a delete. */
  async vread(type: string, id: string, versionId: string): Promise<FhirResponse> {
    this.checkType(type);
    this.checkId(id);
    const version = this.checkVersion(versionId);
    const stored = await this.repository.vread(type, id, version);
    if (!stored) throw FhirException.notFound(`${type}/${id} has no version ${versionId}`);
    return this.readResponse(stored, `Version ${version} of ${type}/${id} records its deletion`);
  }

  /**
   * FHIR update (http.html#update), creating the resource with the client's id when it does
   * not exist (or was deleted): 201 then, else 200. `ifMatch` is the version If-Match named.
   */
  async update(
    type: string,
    id: string,
    body: unknown,
    ifMatch: number | undefined,
    context: RestContext,
  ): Promise<FhirResponse> {
    this.checkType(type);
    this.checkId(id);
    const resource = this.checkResource(type, body, id);
    const { stored, created } = await this.repository.inTransaction((session) =>
      session.update(type, id, resource, { ifMatch }),
    );
    return this.writeResponse(
      created ? 201 : 200,
      stored,
      context,
      created ? 'Created' : 'Updated',
    );
  }

  /**
   * FHIR delete (http.html#delete): writes a deletion version; 204 whether or not there was
   * anything to delete, so retries are harmless.
   */
  async delete(type: string, id: string, ifMatch: number | undefined): Promise<FhirResponse> {
    this.checkType(type);
    this.checkId(id);
    const deleted = await this.repository.inTransaction((session) =>
      session.delete(type, id, { ifMatch }),
    );
    return { status: 204, headers: deleted ? { ETag: etagOf(deleted.versionId) } : {} };
  }

  /**
   * FHIR instance history (http.html#history): a `history` Bundle, newest version first,
   * paged by `_count` with a `next` link whose `ct` is the version the next page starts below.
   */
  async history(
    type: string,
    id: string,
    query: HistoryQuery,
    context: RestContext,
  ): Promise<FhirResponse> {
    this.checkType(type);
    this.checkId(id);
    for (const name of UNSUPPORTED_HISTORY_PARAMETERS) {
      if (query[name] !== undefined) {
        throw FhirException.badRequest(`History parameter ${name} is not supported yet`, [name]);
      }
    }
    const count = this.checkCount(query._count);
    const before = query.ct === undefined ? undefined : this.checkContinuation(query.ct);
    const current = await this.repository.read(type, id);
    if (!current) throw FhirException.notFound(`${type}/${id} is not known`);
    // One extra row tells whether a next page exists and what precedes the page's last entry.
    const rows = await this.repository.history(type, id, {
      count: count + 1,
      beforeVersion: before,
    });
    const page = rows.slice(0, count);
    const self = `${context.baseUrl}/${type}/${id}/_history`;
    const links = [
      { relation: 'self', url: `${self}?_count=${count}${before ? `&ct=${before}` : ''}` },
    ];
    if (rows.length > count) {
      links.push({
        relation: 'next',
        url: `${self}?_count=${count}&ct=${page[page.length - 1].versionId}`,
      });
    }
    const entries = page.map((version, i) => historyEntry(version, rows[i + 1], context.baseUrl));
    const body =
      `{"resourceType":"Bundle","type":"history","total":${current.versionId},` +
      `"link":${JSON.stringify(links)},"entry":[${entries.join(',')}]}`;
    return { status: 200, headers: {}, body };
  }

  /** 404 for anything that is not an R4 resource type (FHIR RESTful API, 3.1.0.4.1). */
  checkType(type: string): void {
    if (!this.definitions.isResourceType(type)) {
      throw FhirException.notFound(`Unknown resource type ${type}`);
    }
  }

  checkId(id: string): void {
    if (!FHIR_ID.test(id)) {
      throw FhirException.badRequest(
        `Invalid resource id ${JSON.stringify(id)}: ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '.'`,
      );
    }
  }

  /**
   * A request body as a resource of `type`. With `id` (update) the body must carry that id,
   * as FHIR requires; without (create) whatever id it carries is ignored. Unless `validate` is
   * false (a Bundle validates all its entries at once), the resource must then be valid R4
   * (see `ResourceValidator`): else 400 with one issue per problem. There is no lenient mode:
   * FHIR defines `Prefer: handling` for search parameters only (search.html#errors).
   */
  checkResource(type: string, body: unknown, id?: string, validate = true): FhirResource {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw FhirException.badRequest('The body must be a FHIR resource: a JSON object');
    }
    const resource = body as Record<string, unknown>;
    if (resource.resourceType === undefined) {
      throw FhirException.badRequest(`The resource has no resourceType; expected ${type}`, [
        'resourceType',
      ]);
    }
    if (resource.resourceType !== type) {
      throw FhirException.badRequest(
        `resourceType ${JSON.stringify(resource.resourceType)} does not match ${type} in the URL`,
        ['resourceType'],
      );
    }
    if (id !== undefined) {
      if (resource.id === undefined) {
        throw FhirException.badRequest(`The resource has no id; an update must carry id "${id}"`, [
          `${type}.id`,
        ]);
      }
      if (resource.id !== id) {
        throw FhirException.badRequest(
          `Resource id ${JSON.stringify(resource.id)} does not match id "${id}" in the URL`,
          [`${type}.id`],
        );
      }
    }
    if (resource.meta !== undefined && !isPlainObject(resource.meta)) {
      throw FhirException.badRequest('meta must be a JSON object', [`${type}.meta`]);
    }
    if (validate) this.checkValid(resource);
    return resource as FhirResource;
  }

  /**
   * 400 with every problem `resource` has as an R4 resource. `urn:uuid:` references are
   * refused here, as they resolve only inside a transaction (http.html#trules).
   */
  checkValid(resource: unknown): void {
    const issues = this.validator.validate(resource);
    if (issues.length > 0) throw new FhirIssuesException(FhirErrorCode.BadRequest, issues);
  }

  private checkVersion(versionId: string): number {
    const version = /^[1-9]\d{0,9}$/.test(versionId) ? Number(versionId) : NaN;
    if (!(version <= MAX_VERSION)) {
      throw FhirException.badRequest(
        `Invalid version id ${JSON.stringify(versionId)}: versions are positive integers`,
      );
    }
    return version;
  }

  private checkCount(value: unknown): number {
    if (value === undefined) return DEFAULT_HISTORY_COUNT;
    // Any count of digits: a larger page than the server gives is capped (search.html#count).
    if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1) {
      throw FhirException.badRequest(
        `_count must be a positive integer written in digits (a history page holds at most ` +
          `${MAX_HISTORY_COUNT} entries; a larger _count gets ${MAX_HISTORY_COUNT}), got ${JSON.stringify(value)}`,
        ['_count'],
      );
    }
    return Math.min(Number(value), MAX_HISTORY_COUNT);
  }

  private checkContinuation(value: unknown): number {
    if (typeof value !== 'string' || !/^[1-9]\d{0,9}$/.test(value) || Number(value) > MAX_VERSION) {
      throw FhirException.badRequest(`Invalid continuation token ct=${JSON.stringify(value)}`, [
        'ct',
      ]);
    }
    return Number(value);
  }

  private readResponse(stored: StoredResource, goneMessage: string): FhirResponse {
    const headers = versionHeaders(stored, '', false);
    if (stored.deleted || stored.content === null) {
      throw new FhirException(FhirErrorCode.Gone, goneMessage, { headers });
    }
    return { status: 200, headers, body: stored.content };
  }

  private writeResponse(
    status: number,
    stored: StoredResource,
    context: RestContext,
    what: 'Created' | 'Updated' | 'Matched',
  ): FhirResponse {
    const headers = versionHeaders(stored, context.baseUrl, true);
    switch (context.prefer) {
      case 'minimal':
        return { status, headers };
      case 'OperationOutcome':
        return {
          status,
          headers,
          body: JSON.stringify(
            operationOutcome(
              'information',
              'informational',
              `${what} ${stored.type}/${stored.id} version ${stored.versionId}`,
            ),
          ),
        };
      case 'representation':
        return { status, headers, body: stored.content ?? undefined };
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * One history entry. How a version came about is not stored, so it is inferred: a deletion
 * is a DELETE, version 1 or a version after a deletion a create, anything else an update.
 */
function historyEntry(
  version: StoredResource,
  previous: StoredResource | undefined,
  baseUrl: string,
): string {
  const fullUrl = `${baseUrl}/${version.type}/${version.id}`;
  const response = {
    etag: etagOf(version.versionId),
    lastModified: version.lastUpdated.toISOString(),
  };
  if (version.deleted || version.content === null) {
    return JSON.stringify({
      fullUrl,
      request: { method: 'DELETE', url: `${version.type}/${version.id}` },
      response: { status: statusLine(204), ...response },
    });
  }
  const created = version.versionId === 1 || previous?.deleted === true;
  const request =
    version.versionId === 1
      ? { method: 'POST', url: version.type }
      : { method: 'PUT', url: `${version.type}/${version.id}` };
  return (
    `{"fullUrl":${JSON.stringify(fullUrl)},"resource":${version.content},` +
    `"request":${JSON.stringify(request)},` +
    `"response":${JSON.stringify({ status: statusLine(created ? 201 : 200), ...response })}}`
  );
}
