import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { jwksUrlProblem, publicKeyProblem } from '../clients/client-metadata';
import type { JSONWebKeySet, JWK } from '../jose';

/** A JWKS document larger than this is refused. */
export const MAX_JWKS_BYTES = 256 * 1024;
/** Cache lifetime when the response says nothing, and the most any response may ask for. */
const DEFAULT_CACHE_S = 300;
const MAX_CACHE_S = 24 * 3600;
/** A cached set is fetched again for an unknown `kid` only once it is this old. */
const REFETCH_AFTER_MS = 10_000;

export class JwksFetchError extends Error {}

interface CachedJwks {
  keys: JWK[];
  fetchedAt: number;
  expiresAt: number;
}

/** Seconds a response may be cached for, from Cache-Control (max-age, no-store) or Expires. */
export function cacheSeconds(
  cacheControl: string | null,
  expires: string | null,
  now: number,
): number {
  if (cacheControl) {
    const directives = cacheControl
      .toLowerCase()
      .split(',')
      .map((d) => d.trim());
    if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
    const maxAge = directives.map((d) => /^max-age=(\d+)$/.exec(d)).find((m) => m);
    if (maxAge) return Math.min(Number(maxAge[1]), MAX_CACHE_S);
  }
  if (expires) {
    const at = Date.parse(expires);
    if (!Number.isNaN(at)) return Math.max(0, Math.min(Math.floor((at - now) / 1000), MAX_CACHE_S));
  }
  return DEFAULT_CACHE_S;
}

/**
 * Fetches clients' JWKS URLs (SMART Backend Services, "Registering a client"): https only
 * (http on loopback when AUTH_ALLOW_LOOPBACK_JWKS), no redirects, bounded by
 * AUTH_JWKS_TIMEOUT_MS and {@link MAX_JWKS_BYTES}, cached as the response's cache headers say.
 * Keys that are not RS384/ES384 signing keys are left out.
 */
@Injectable()
export class JwksFetcher {
  private readonly cache = new Map<string, CachedJwks>();
  private readonly inFlight = new Map<string, Promise<CachedJwks>>();

  constructor(private readonly config: AppConfig) {}

  /** The key of `kid` at `url`; fetched again once when a cached set lacks it. */
  async key(url: string, kid: string): Promise<JWK | undefined> {
    const now = Date.now();
    let entry = this.cache.get(url);
    if (!entry || entry.expiresAt <= now) entry = await this.load(url);
    let key = entry.keys.find((k) => k.kid === kid);
    if (!key && now - entry.fetchedAt >= REFETCH_AFTER_MS) {
      entry = await this.load(url);
      key = entry.keys.find((k) => k.kid === kid);
    }
    return key;
  }

  private load(url: string): Promise<CachedJwks> {
    let pending = this.inFlight.get(url);
    if (!pending) {
      pending = this.fetchJwks(url).finally(() => this.inFlight.delete(url));
      this.inFlight.set(url, pending);
    }
    return pending;
  }

  private async fetchJwks(url: string): Promise<CachedJwks> {
    const problem = jwksUrlProblem(url, this.config.AUTH_ALLOW_LOOPBACK_JWKS);
    if (problem) throw new JwksFetchError(problem);
    const timeout = this.config.AUTH_JWKS_TIMEOUT_MS;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    let text: string;
    let response: Response;
    try {
      response = await fetch(url, {
        signal: controller.signal,
        redirect: 'error',
        headers: { Accept: 'application/json, application/jwk-set+json' },
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new JwksFetchError(`the JWKS URL answered HTTP ${response.status}`);
      }
      text = await readLimited(response, MAX_JWKS_BYTES);
    } catch (error) {
      if (error instanceof JwksFetchError) throw error;
      if (controller.signal.aborted) {
        throw new JwksFetchError(`the JWKS URL did not answer within ${timeout} ms`);
      }
      throw new JwksFetchError(`the JWKS URL could not be fetched: ${describe(error)}`);
    } finally {
      clearTimeout(timer);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new JwksFetchError('the JWKS URL did not return JSON');
    }
    const keys = (parsed as JSONWebKeySet | null)?.keys;
    if (!Array.isArray(keys)) throw new JwksFetchError('the JWKS URL did not return a JWK Set');
    const usable = keys.filter((k) => publicKeyProblem(k, 'key') === undefined);
    const now = Date.now();
    const entry = {
      keys: usable,
      fetchedAt: now,
      expiresAt:
        now +
        1000 *
          cacheSeconds(response.headers.get('cache-control'), response.headers.get('expires'), now),
    };
    this.cache.set(url, entry);
    return entry;
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { message?: string } }).cause;
  return cause?.message ?? (error as Error).message ?? String(error);
}

async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new JwksFetchError(`the JWKS document is larger than ${limit} bytes`);
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early (the throw) cancels the stream and closes the connection.
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new JwksFetchError(`the JWKS document is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
