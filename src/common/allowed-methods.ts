import { INestApplication, SetMetadata } from '@nestjs/common';
import { METHOD_METADATA } from '@nestjs/common/constants';
import type { NextFunction, Request, Response } from 'express';
import { FhirErrorCode, FhirException } from './fhir-exception';
import { sendFhirException } from './fhir-exception.filter';

/** The decoded parameters of a route path such as `:type/:id`. */
export type RouteParams = Record<string, string | undefined>;

/**
 * Whether a route takes a request whose path its pattern matches. A route whose pattern is
 * broader than what it serves (`:type/:id` also matches `/Patient/$export`) declines the rest
 * by calling `next()`; this says which paths it keeps, so the allowed methods of a path count
 * only the routes that would answer it.
 */
export type RouteClaim = (params: RouteParams) => boolean;

const ROUTE_CLAIM = 'fhir:route-claim';
const NO_HEAD = 'fhir:no-head';

/** Marks a handler that serves only the paths `claim` accepts (and calls `next()` for the rest). */
export function ClaimsPaths(claim: RouteClaim): MethodDecorator {
  return SetMetadata(ROUTE_CLAIM, claim);
}

/** The claim a handler declared with {@link ClaimsPaths}, if any. */
export function routeClaimOf(handler: unknown): RouteClaim | undefined {
  return metadata<RouteClaim>(ROUTE_CLAIM, handler);
}

/**
 * Marks a GET handler with side effects (an `$export` kick-off): HEAD, which Express would
 * route to it, answers 405 instead, since a HEAD must not start anything (RFC 9110, 9.3.2).
 */
export function NoHead(): MethodDecorator {
  return SetMetadata(NO_HEAD, true);
}

/** The order methods are listed in an `Allow` header. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

function byMethodOrder(a: string, b: string): number {
  const rank = (m: string) => (METHOD_ORDER.includes(m) ? METHOD_ORDER.indexOf(m) : 99);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/** The parts of Express's router (the `router` package) read here. */
interface RouterLayer {
  route?: { stack: { method?: string; handle: unknown }[] };
  params?: RouteParams;
  match(path: string): { params: RouteParams } | boolean;
}

function metadata<T>(key: string, handle: unknown): T | undefined {
  return typeof handle === 'function'
    ? (Reflect.getMetadata(key, handle) as T | undefined)
    : undefined;
}

function matchParams(layer: RouterLayer, path: string): RouteParams | undefined {
  try {
    const match = layer.match(path);
    if (match === false) return undefined;
    return match === true ? (layer.params ?? {}) : match.params;
  } catch {
    return undefined; // a malformed %-escape: the router itself answers it
  }
}

/**
 * The methods the application's controllers answer on `path`, read from the router itself (so
 * they cannot drift from the routes): each controller route (Nest copies a handler's metadata
 * onto the function it routes) whose pattern matches and whose claim, if any, accepts the
 * path. HEAD comes with GET unless the GET handler is marked {@link NoHead}. `undefined` when
 * a route takes every method (`@All`), which then decides itself.
 */
export function allowedMethods(stack: readonly RouterLayer[], path: string): string[] | undefined {
  const allowed = new Set<string>();
  for (const layer of stack) {
    if (!layer.route) continue;
    const params = matchParams(layer, path);
    if (!params) continue;
    for (const { method, handle } of layer.route.stack) {
      // Nest's middleware (e.g. the request logger) is also routed, under every method.
      if (metadata(METHOD_METADATA, handle) === undefined) continue;
      if (method === undefined || method === '_all') return undefined;
      const claim = metadata<RouteClaim>(ROUTE_CLAIM, handle);
      if (claim && !claim(params)) continue;
      const name = method.toUpperCase();
      allowed.add(name);
      if (name === 'GET' && !metadata<boolean>(NO_HEAD, handle)) allowed.add('HEAD');
    }
  }
  return [...allowed].sort(byMethodOrder);
}

/**
 * HTTP method handling for the whole application (RFC 9110, 15.5.6 and 9.3.7): a request whose
 * path some route answers, but not with its method, gets `405 Method Not Allowed` with an
 * `Allow` header and an OperationOutcome (`not-supported`); `OPTIONS` on such a path answers
 * `200` with `Allow` and no content. Paths no route answers go on to the 404 as before, and so
 * does everything under middleware such as Bull Board, which handles its own methods.
 */
export function methodHandling(app: INestApplication) {
  const router = (app.getHttpAdapter().getInstance() as { router: { stack: RouterLayer[] } })
    .router;
  return (req: Request, res: Response, next: NextFunction): void => {
    const allowed = allowedMethods(router.stack, req.path);
    if (allowed === undefined || allowed.length === 0 || allowed.includes(req.method)) {
      next();
      return;
    }
    const allow = [...allowed, 'OPTIONS'].join(', ');
    if (req.method === 'OPTIONS') {
      res.status(200).set({ Allow: allow, 'Content-Length': '0' }).end();
      return;
    }
    sendFhirException(
      res,
      new FhirException(
        FhirErrorCode.MethodNotAllowed,
        `Method ${req.method} is not supported on ${req.path}; it supports ${allow}`,
        { headers: { Allow: allow } },
      ),
    );
  };
}
