import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { requirePermission } from '../auth/access/access-policy';
import { AccessPrincipal } from '../auth/access/principal';
import type { Permission } from '../auth/scopes';
import { internalError } from '../common/internal-error';
import { FhirErrorCode, FhirException } from '../common/fhir-exception';
import { httpStatusOf } from '../common/fhir-exception.filter';
import { FhirIssuesException } from '../common/fhir-issues';
import { ResourceValidator } from '../fhir/resource-validator';
import { OperationOutcome } from '../common/operation-outcome';
import {
  conditionalReferencesIn,
  rewriteReferences,
  splitConditionalReference,
} from './bundle-references';
import { parseIfMatch } from '../common/fhir-request';
import { etagOf, FhirResponse } from '../common/fhir-response';
import { hasIdentifier, parseIdentifierCondition } from './identifier-condition';
import {
  FhirResource,
  IdentifierCondition,
  ResourceRepository,
  ResourceSession,
  StoredResource,
} from './resource.repository';
import { locationOf, ResourceService, RestContext, statusLine } from './resource.service';

interface PlannedPost {
  index: number;
  method: 'POST';
  type: string;
  /** Server id, fixed before anything runs so references to the entry can be rewritten. */
  id: string;
  resource: FhirResource;
  fullUrl?: string;
  ifNoneExist?: { query: string; condition: IdentifierCondition };
}

interface PlannedPut {
  index: number;
  method: 'PUT';
  type: string;
  id: string;
  resource: FhirResource;
  fullUrl?: string;
  ifMatch?: number;
}

type PlannedEntry =
  | PlannedPost
  | PlannedPut
  | { index: number; method: 'DELETE'; type: string; id: string; ifMatch?: number }
  | { index: number; method: 'GET'; type: string; id: string; versionId?: number };

type EntryMethod = PlannedEntry['method'];

interface EntryResult {
  status: number;
  method?: EntryMethod;
  stored?: StoredResource;
  outcome?: OperationOutcome;
}

// FHIR R4 http.html#trules: deletes, then creates, then updates, then reads.
const TRANSACTION_ORDER: Record<EntryMethod, number> = { DELETE: 0, POST: 1, PUT: 2, GET: 3 };

const UNSUPPORTED_CONDITIONS = ['ifNoneMatch', 'ifModifiedSince'] as const;

const isWrite = (plan: PlannedEntry): plan is PlannedPost | PlannedPut =>
  plan.method === 'POST' || plan.method === 'PUT';

/**
 * Batch and transaction Bundles posted to the service base (https://hl7.org/fhir/R4/http.html#transaction).
 * A transaction runs in one database transaction and fails whole; a batch runs each entry in
 * a transaction of its own and reports per entry. Conditional creates (`ifNoneExist`) and
 * conditional references are understood for a single `identifier` search, which is what
 * Synthea and similar loaders send; other searches are refused until the search index exists.
 */
/** A batch or transaction request, and who makes it. */
export interface BundleContext extends RestContext {
  principal: AccessPrincipal;
}

/** What an entry needs the token to permit on its type (SMART v2 letters). */
function entryPermissions(plan: PlannedEntry): Permission[] {
  switch (plan.method) {
    case 'POST':
      // A conditional create searches first.
      return plan.ifNoneExist ? ['c', 's'] : ['c'];
    case 'PUT':
      return ['u'];
    case 'DELETE':
      return ['d'];
    case 'GET':
      return ['r'];
  }
}

function authorize(principal: AccessPrincipal, plan: PlannedEntry): void {
  requirePermission(principal, [plan.type], entryPermissions(plan));
}

@Injectable()
export class BundleService {
  private readonly logger = new Logger(BundleService.name);

  constructor(
    private readonly repository: ResourceRepository,
    private readonly resources: ResourceService,
    private readonly validator: ResourceValidator,
  ) {}

  /**
   * Dispatches on Bundle.type; anything but `transaction` and `batch` is a 400. The whole
   * Bundle is validated as R4 before anything runs: a transaction with any problem is refused
   * with all of them (e.g. `Bundle.entry[3].resource.birthDate`); in a batch, problems fail
   * only their entry, and problems outside the entries the whole request.
   */
  async process(body: unknown, context: BundleContext): Promise<FhirResponse> {
    const bundle = this.checkBundle(body);
    const entries = bundle.entry ?? [];
    // urn:uuid: references are the transaction's to resolve (and a batch's to refuse) below.
    const options = { allowUrnReferences: true };
    if (bundle.type === 'transaction') {
      const plans = this.planTransaction(entries, context.baseUrl);
      // All or nothing: an entry the token does not cover refuses the whole transaction.
      for (const plan of plans) atEntry(plan.index, () => authorize(context.principal, plan));
      const issues = this.validator.validate(body, options);
      if (issues.length > 0) throw new FhirIssuesException(FhirErrorCode.BadRequest, issues);
      const results = await this.repository.inTransaction((session) =>
        this.run(session, plans, context.principal),
      );
      return this.responseBundle('transaction-response', results, context);
    }
    // Each entry on its own, so that the cap on reported issues never lets one through.
    const envelope = { ...(body as Record<string, unknown>) };
    delete envelope.entry;
    const envelopeIssues = this.validator.validate(envelope, options);
    if (envelopeIssues.length > 0) {
      throw new FhirIssuesException(FhirErrorCode.BadRequest, envelopeIssues);
    }
    const results: EntryResult[] = [];
    for (const [index, entry] of entries.entries()) {
      try {
        const plan = this.plan(entry, index, context.baseUrl);
        authorize(context.principal, plan);
        const path = `Bundle.entry[${index}]`;
        const issues = this.validator.validateElement(entry, 'Bundle.entry', path, options);
        if (issues.length > 0) throw new FhirIssuesException(FhirErrorCode.BadRequest, issues);
        const [result] = await this.repository.inTransaction((session) =>
          this.run(session, [plan], context.principal),
        );
        results.push(result);
      } catch (error) {
        results.push(this.failedEntry(index, error));
      }
    }
    return this.responseBundle('batch-response', results, context);
  }

  private checkBundle(body: unknown): { type: 'transaction' | 'batch'; entry?: unknown[] } {
    if (!isObject(body)) {
      throw FhirException.badRequest('The body must be a Bundle resource: a JSON object');
    }
    if (body.resourceType !== 'Bundle') {
      throw FhirException.badRequest(
        `POST to the service base takes a Bundle, got resourceType ${JSON.stringify(body.resourceType)}`,
        ['resourceType'],
      );
    }
    if (body.type !== 'transaction' && body.type !== 'batch') {
      throw FhirException.badRequest(
        `Bundle.type ${JSON.stringify(body.type)} cannot be processed; send a transaction or a batch`,
        ['Bundle.type'],
      );
    }
    if (body.entry !== undefined && !Array.isArray(body.entry)) {
      throw FhirException.badRequest('Bundle.entry must be an array', ['Bundle.entry']);
    }
    return { type: body.type, entry: body.entry as unknown[] | undefined };
  }

  /** Plans every entry and checks what the entries may not do together, before any write. */
  private planTransaction(entries: unknown[], baseUrl: string): PlannedEntry[] {
    const plans = entries.map((entry, index) =>
      atEntry(index, () => this.plan(entry, index, baseUrl)),
    );
    const seen = new Map<string, number>();
    const once = (index: number, key: string, problem: (earlier: number) => string) => {
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        throw FhirException.badRequest(`Bundle.entry[${index}]: ${problem(earlier)}`, [
          `Bundle.entry[${index}]`,
        ]);
      }
      seen.set(key, index);
    };
    for (const plan of plans) {
      if (isWrite(plan) && plan.fullUrl !== undefined) {
        once(
          plan.index,
          `fullUrl ${plan.fullUrl}`,
          (e) => `fullUrl ${plan.fullUrl} is also the fullUrl of entry[${e}]`,
        );
      }
      if (plan.method === 'PUT' || plan.method === 'DELETE') {
        const key = `${plan.type}/${plan.id}`;
        once(
          plan.index,
          key,
          (e) =>
            `${key} is already modified by entry[${e}]; a transaction may change a resource only once`,
        );
      }
      if (plan.method === 'POST' && plan.ifNoneExist) {
        const key = `${plan.type}?${plan.ifNoneExist.query}`;
        once(
          plan.index,
          key,
          (e) => `ifNoneExist ${plan.ifNoneExist!.query} repeats the one of entry[${e}]`,
        );
      }
    }
    return plans;
  }

  /** Validates one entry and fixes what it will do; POST entries get their server id here. */
  private plan(entry: unknown, index: number, baseUrl: string): PlannedEntry {
    if (!isObject(entry)) throw FhirException.badRequest('the entry must be a JSON object');
    const request = entry.request;
    if (!isObject(request)) throw FhirException.badRequest('the entry has no request');
    const { method, url } = request;
    if (typeof method !== 'string' || typeof url !== 'string' || url === '') {
      throw FhirException.badRequest('request.method and request.url are required');
    }
    for (const condition of UNSUPPORTED_CONDITIONS) {
      if (request[condition] !== undefined) {
        throw FhirException.badRequest(`request.${condition} is not supported yet`);
      }
    }
    if (request.ifMatch !== undefined && typeof request.ifMatch !== 'string') {
      throw FhirException.badRequest('request.ifMatch must be a string such as W/"1"');
    }
    if (
      request.ifNoneExist !== undefined &&
      (method !== 'POST' || typeof request.ifNoneExist !== 'string')
    ) {
      throw FhirException.badRequest('request.ifNoneExist must be a string, on a POST');
    }
    if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string') {
      throw FhirException.badRequest('fullUrl must be a string');
    }
    const fullUrl = entry.fullUrl;
    const ifMatch = parseIfMatch(request.ifMatch);
    const path = relativeUrl(url, baseUrl);
    if (path.includes('?')) {
      throw FhirException.badRequest(
        method === 'GET'
          ? `search (${url}) is not supported yet`
          : `conditional ${method} (${url}) is not supported yet`,
      );
    }
    const [type, id, history, version, ...rest] = path.split('/');
    const shape = (expected: string) =>
      FhirException.badRequest(
        `request.url ${JSON.stringify(url)} of a ${method} must be ${expected}`,
      );
    this.resources.checkType(type);
    switch (method) {
      case 'POST': {
        if (id !== undefined) throw shape('[type]');
        const resource = this.resources.checkResource(type, entry.resource, undefined, false);
        const query = request.ifNoneExist;
        return {
          index,
          method,
          type,
          id: randomUUID(),
          resource,
          fullUrl,
          ifNoneExist:
            query === undefined
              ? undefined
              : { query, condition: parseIdentifierCondition(query, 'ifNoneExist') },
        };
      }
      case 'PUT':
        if (id === undefined || history !== undefined) throw shape('[type]/[id]');
        this.resources.checkId(id);
        return {
          index,
          method,
          type,
          id,
          resource: this.resources.checkResource(type, entry.resource, id, false),
          fullUrl,
          ifMatch,
        };
      case 'DELETE':
        if (id === undefined || history !== undefined) throw shape('[type]/[id]');
        this.resources.checkId(id);
        return { index, method, type, id, ifMatch };
      case 'GET':
        if (id === undefined)
          throw FhirException.badRequest(`search (${url}) is not supported yet`);
        this.resources.checkId(id);
        if (history === undefined) return { index, method, type, id };
        if (history !== '_history' || version === undefined || rest.length > 0) {
          throw shape('[type]/[id] or [type]/[id]/_history/[vid]');
        }
        if (!/^[1-9]\d{0,8}$/.test(version)) {
          throw FhirException.badRequest(`invalid version id ${JSON.stringify(version)}`);
        }
        return { index, method, type, id, versionId: Number(version) };
      default:
        throw new FhirException(
          FhirErrorCode.MethodNotAllowed,
          `request.method ${JSON.stringify(method)} is not supported; use GET, POST, PUT or DELETE`,
        );
    }
  }

  /**
   * Runs planned entries in one session: conditional creates are matched first, then every
   * fullUrl and conditional reference is resolved and rewritten, then the entries run in FHIR
   * order. Results line up with `plans`.
   */
  private async run(
    session: ResourceSession,
    plans: PlannedEntry[],
    principal: AccessPrincipal,
  ): Promise<EntryResult[]> {
    const matched = new Map<PlannedEntry, StoredResource>();
    for (const plan of plans) {
      if (plan.method !== 'POST' || !plan.ifNoneExist) continue;
      const { condition, query } = plan.ifNoneExist;
      const existing = await atEntryAsync(plan.index, () =>
        this.resources.findIfNoneExist(session, plan.type, condition, query),
      );
      if (existing) matched.set(plan, existing);
    }
    const idOf = (plan: PlannedPost | PlannedPut) => matched.get(plan)?.id ?? plan.id;

    const targets = new Map<string, string>();
    for (const plan of plans) {
      if (isWrite(plan) && plan.fullUrl !== undefined) {
        targets.set(plan.fullUrl, `${plan.type}/${idOf(plan)}`);
      }
    }
    const writes = plans.filter(isWrite).filter((plan) => !matched.has(plan));
    for (const plan of writes) {
      const conditional = new Set<string>();
      conditionalReferencesIn(plan.resource, conditional);
      for (const reference of conditional) {
        if (targets.has(reference)) continue;
        const target = await atEntryAsync(plan.index, () =>
          this.resolveConditionalReference(session, reference, plans, idOf, principal),
        );
        targets.set(reference, target);
      }
      atEntry(plan.index, () => rewriteReferences(plan.resource, targets));
    }

    const results = new Map<PlannedEntry, EntryResult>();
    const ordered = [...plans].sort(
      (a, b) => TRANSACTION_ORDER[a.method] - TRANSACTION_ORDER[b.method] || a.index - b.index,
    );
    const creates = ordered.filter(
      (plan): plan is PlannedPost => plan.method === 'POST' && !matched.has(plan),
    );
    for (const plan of ordered) {
      if (results.has(plan)) continue;
      const existing = matched.get(plan);
      if (existing) {
        results.set(plan, { status: 200, method: plan.method, stored: existing });
      } else if (plan.method === 'POST') {
        // The creates sit together in FHIR order, so they all go in at the first one: a
        // patient's Bundle is one INSERT rather than a round trip per resource.
        const stored = await session.createMany(
          creates.map(({ resource, id }) => ({ resource, id })),
        );
        creates.forEach((create, i) =>
          results.set(create, { status: 201, method: 'POST', stored: stored[i] }),
        );
      } else {
        results.set(plan, await atEntryAsync(plan.index, () => this.execute(session, plan)));
      }
    }
    return plans.map((plan) => results.get(plan)!);
  }

  /**
   * `Type?identifier=...` to `Type/id`: an entry of this Bundle carrying that identifier, else
   * the one stored resource carrying it; none (404) or several (412) fail the entry.
   */
  private async resolveConditionalReference(
    session: ResourceSession,
    reference: string,
    plans: PlannedEntry[],
    idOf: (plan: PlannedPost | PlannedPut) => string,
    principal: AccessPrincipal,
  ): Promise<string> {
    const { type, query } = splitConditionalReference(reference)!;
    this.resources.checkType(type);
    // Resolving searches the type: without search on it, whether a match exists must not leak.
    requirePermission(principal, [type], ['s']);
    const condition = parseIdentifierCondition(query, 'Conditional reference');
    const inBundle = new Set(
      plans
        .filter(isWrite)
        .filter((plan) => plan.type === type && hasIdentifier(plan.resource, condition))
        .map((plan) => `${type}/${idOf(plan)}`),
    );
    const found =
      inBundle.size > 0
        ? [...inBundle]
        : (await session.findByIdentifier(type, condition)).map((s) => `${type}/${s.id}`);
    if (found.length === 1) return found[0];
    if (found.length === 0) {
      throw FhirException.notFound(`conditional reference ${reference} matches no resource`);
    }
    throw new FhirException(
      FhirErrorCode.PreconditionFailed,
      `conditional reference ${reference} matches ${found.length} resources`,
    );
  }

  private async execute(
    session: ResourceSession,
    plan: Exclude<PlannedEntry, PlannedPost>,
  ): Promise<EntryResult> {
    switch (plan.method) {
      case 'PUT': {
        const { stored, created } = await session.update(plan.type, plan.id, plan.resource, {
          ifMatch: plan.ifMatch,
        });
        return { status: created ? 201 : 200, method: plan.method, stored };
      }
      case 'DELETE': {
        const deleted = await session.delete(plan.type, plan.id, { ifMatch: plan.ifMatch });
        return { status: 204, method: plan.method, stored: deleted ?? undefined };
      }
      case 'GET': {
        const name = `${plan.type}/${plan.id}`;
        const stored =
          plan.versionId === undefined
            ? await session.read(plan.type, plan.id)
            : await this.repository.vread(plan.type, plan.id, plan.versionId);
        if (!stored) {
          throw FhirException.notFound(
            plan.versionId === undefined
              ? `${name} is not known`
              : `${name} has no version ${plan.versionId}`,
          );
        }
        if (stored.deleted) {
          throw new FhirException(FhirErrorCode.Gone, `${name} has been deleted`);
        }
        return { status: 200, method: plan.method, stored };
      }
    }
  }

  private failedEntry(index: number, error: unknown): EntryResult {
    if (error instanceof FhirException) {
      return { status: httpStatusOf(error.code), outcome: error.outcome };
    }
    return {
      status: 500,
      outcome: internalError(this.logger, error, `Batch entry ${index} failed unexpectedly`),
    };
  }

  /** The response Bundle, built as text so stored resources are embedded without re-parsing. */
  private responseBundle(
    type: 'transaction-response' | 'batch-response',
    results: EntryResult[],
    context: RestContext,
  ): FhirResponse {
    const withResource = context.prefer === 'representation';
    const entries = results.map((result) => {
      const { stored } = result;
      const response: Record<string, unknown> = { status: statusLine(result.status) };
      if (result.outcome) response.outcome = result.outcome;
      if (!stored) return JSON.stringify({ response });
      if (result.method === 'POST' || result.method === 'PUT') {
        response.location = locationOf(stored, context.baseUrl);
      }
      response.etag = etagOf(stored.versionId);
      if (result.method !== 'DELETE') {
        response.lastModified = stored.lastUpdated.toISOString();
      }
      const fullUrl = JSON.stringify(`${context.baseUrl}/${stored.type}/${stored.id}`);
      const resource =
        (withResource || result.method === 'GET') && stored.content !== null
          ? `,"resource":${stored.content}`
          : '';
      return `{"fullUrl":${fullUrl}${resource},"response":${JSON.stringify(response)}}`;
    });
    return {
      status: 200,
      headers: {},
      body: `{"resourceType":"Bundle","type":"${type}","entry":[${entries.join(',')}]}`,
    };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** request.url relative to the service base; absolute URLs must point at this server. */
function relativeUrl(url: string, baseUrl: string): string {
  if (url.startsWith(`${baseUrl}/`)) return url.slice(baseUrl.length + 1);
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    throw FhirException.badRequest(`request.url ${url} is not on this server (${baseUrl})`);
  }
  return url.replace(/^\/+/, '');
}

/** Names the entry in any FHIR error, so the client knows which one failed and why. */
function withEntry(index: number, error: unknown): unknown {
  if (!(error instanceof FhirException) || error instanceof FhirIssuesException) return error;
  const prefix = `Bundle.entry[${index}]`;
  if (error.message.startsWith(prefix)) return error;
  return new FhirException(error.code, `${prefix}: ${error.message}`, {
    expression: [prefix],
    issueType: error.outcome.issue[0]?.code,
    headers: error.headers,
  });
}

function atEntry<T>(index: number, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw withEntry(index, error);
  }
}

async function atEntryAsync<T>(index: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw withEntry(index, error);
  }
}
