import { createPublicKey, JsonWebKey } from 'node:crypto';
import type { JSONWebKeySet, JWK } from '../jose';
import { parseScopes, ScopeError } from '../scopes';

/** Azure Blob container names (3-63 lowercase letters, digits and single hyphens). */
const CONTAINER = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
const CLIENT_ID = /^[A-Za-z0-9._~:-]{1,128}$/;
const MAX_KEYS = 20;
const MAX_CONTAINERS = 1000;

/** A client as registered by an operator (RFC 7591 client metadata names plus our own). */
export interface ClientMetadata {
  client_id: string;
  jwks?: JSONWebKeySet;
  jwks_uri?: string;
  scope: string;
  containers: string[];
  max_concurrent_exports: number | null;
}

export class ClientMetadataError extends Error {}

const KNOWN = new Set([
  'client_id',
  'jwks',
  'jwks_uri',
  'scope',
  'containers',
  'max_concurrent_exports',
  // RFC 7591 names a backend client may reasonably send; accepted and ignored when they agree.
  'token_endpoint_auth_method',
  'grant_types',
  'client_name',
]);

function fail(message: string): never {
  throw new ClientMetadataError(message);
}

/** Whether a JWKS URL may be used: https, or http on a loopback host when `allowLoopback`. */
export function jwksUrlProblem(value: string, allowLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `jwks_uri "${value}" is not an absolute URL`;
  }
  if (url.username || url.password) return 'jwks_uri must not carry credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && allowLoopback && isLoopback(url.hostname)) return undefined;
  return allowLoopback
    ? 'jwks_uri must be an https URL (or http on a loopback address)'
    : 'jwks_uri must be an https URL';
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Checks one public key a client may sign assertions with: an RSA key (2048 bits or more) or
 * an EC P-384 key, with a `kid`, and no private or symmetric key material.
 */
export function publicKeyProblem(key: unknown, where: string): string | undefined {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    return `${where} is not a JSON object`;
  }
  const jwk = key as JWK;
  if (typeof jwk.kid !== 'string' || jwk.kid === '') return `${where} has no "kid"`;
  if (jwk.kty === 'oct' || 'k' in jwk)
    return `${where} is a symmetric key; register public keys only`;
  if ('d' in jwk) return `${where} holds private key material ("d"); register the public key only`;
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC')
    return `${where} has kty "${String(jwk.kty)}"; use RSA or EC`;
  if (jwk.kty === 'EC' && jwk.crv !== 'P-384')
    return `${where} is on curve ${String(jwk.crv)}; ES384 needs P-384`;
  if (jwk.alg !== undefined && jwk.alg !== 'RS384' && jwk.alg !== 'ES384') {
    return `${where} has alg "${String(jwk.alg)}"; RS384 and ES384 are supported`;
  }
  try {
    const publicKey = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    const bits = publicKey.asymmetricKeyDetails?.modulusLength;
    if (jwk.kty === 'RSA' && (bits ?? 0) < 2048)
      return `${where} is an RSA key of ${bits ?? '?'} bits; at least 2048 are required`;
  } catch (error) {
    return `${where} is not a valid public key: ${(error as Error).message}`;
  }
  return undefined;
}

/** Validates a JWK Set a client signs assertions with; returns the problem, if any. */
export function jwksProblem(value: unknown, name = 'jwks'): string | undefined {
  if (
    typeof value !== 'object' ||
    value === null ||
    !Array.isArray((value as JSONWebKeySet).keys)
  ) {
    return `${name} must be a JWK Set: {"keys": [...]}`;
  }
  const keys = (value as JSONWebKeySet).keys;
  if (keys.length === 0) return `${name} has no keys`;
  if (keys.length > MAX_KEYS) return `${name} has more than ${MAX_KEYS} keys`;
  const kids = new Set<string>();
  for (const [index, key] of keys.entries()) {
    const problem = publicKeyProblem(key, `${name}.keys[${index}]`);
    if (problem) return problem;
    if (kids.has(key.kid as string)) return `${name} has two keys with kid "${key.kid}"`;
    kids.add(key.kid as string);
  }
  return undefined;
}

/**
 * Validates a registration request body (RFC 7591 2, client metadata) and returns the
 * normalized client; throws a {@link ClientMetadataError} naming the first problem.
 */
export function parseClientMetadata(
  body: unknown,
  options: { isResourceType: (type: string) => boolean; allowLoopbackJwks: boolean },
): ClientMetadata {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    fail('The body must be a JSON object of client metadata');
  }
  const input = body as Record<string, unknown>;
  for (const name of Object.keys(input)) {
    if (!KNOWN.has(name)) fail(`Unknown client metadata "${name}"`);
  }
  const clientId = input.client_id;
  if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) {
    fail('client_id is required: 1-128 characters of A-Z a-z 0-9 . _ ~ : -');
  }
  if (
    input.token_endpoint_auth_method !== undefined &&
    input.token_endpoint_auth_method !== 'private_key_jwt'
  ) {
    fail('token_endpoint_auth_method must be private_key_jwt');
  }
  if (
    input.grant_types !== undefined &&
    (!Array.isArray(input.grant_types) || input.grant_types.some((g) => g !== 'client_credentials'))
  ) {
    fail('grant_types must be ["client_credentials"]');
  }
  if (input.client_name !== undefined && typeof input.client_name !== 'string') {
    fail('client_name must be a string');
  }
  const metadata: ClientMetadata = {
    client_id: clientId,
    scope: '',
    containers: [],
    max_concurrent_exports: null,
  };
  if ((input.jwks === undefined) === (input.jwks_uri === undefined)) {
    fail('Exactly one of jwks and jwks_uri is required');
  }
  if (input.jwks !== undefined) {
    const problem = jwksProblem(input.jwks);
    if (problem) fail(problem);
    metadata.jwks = { keys: (input.jwks as JSONWebKeySet).keys };
  } else {
    if (typeof input.jwks_uri !== 'string') fail('jwks_uri must be a string');
    const problem = jwksUrlProblem(input.jwks_uri, options.allowLoopbackJwks);
    if (problem) fail(problem);
    metadata.jwks_uri = input.jwks_uri;
  }
  if (typeof input.scope !== 'string' || input.scope.trim() === '') {
    fail('scope is required: the space-separated system/ scopes the client may be granted');
  }
  try {
    parseScopes(input.scope, options.isResourceType);
  } catch (error) {
    if (error instanceof ScopeError) fail(error.message);
    throw error;
  }
  metadata.scope = input.scope
    .split(' ')
    .filter((s) => s !== '')
    .join(' ');
  if (input.containers !== undefined) {
    if (!Array.isArray(input.containers) || input.containers.length > MAX_CONTAINERS) {
      fail(`containers must be an array of at most ${MAX_CONTAINERS} container names`);
    }
    for (const name of input.containers) {
      if (typeof name !== 'string' || !CONTAINER.test(name)) {
        fail(`containers: ${JSON.stringify(name)} is not a valid Azure Blob container name`);
      }
    }
    metadata.containers = [...new Set(input.containers as string[])];
  }
  if (input.max_concurrent_exports !== undefined && input.max_concurrent_exports !== null) {
    const max = input.max_concurrent_exports;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 1000) {
      fail('max_concurrent_exports must be an integer from 1 to 1000');
    }
    metadata.max_concurrent_exports = max;
  }
  return metadata;
}
