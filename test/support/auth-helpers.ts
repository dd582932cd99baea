import { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import jose from '../../src/auth/jose';
import type { CryptoKey, JWK } from '../../src/auth/jose';

export const OPERATOR = 'operator:s3cret-pass';
export const operatorAuth = `Basic ${Buffer.from(OPERATOR).toString('base64')}`;
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A client's key pair, its public JWK (with kid and alg) ready to register. */
export interface ClientKey {
  alg: 'ES384' | 'RS384';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function clientKey(alg: 'ES384' | 'RS384' = 'ES384'): Promise<ClientKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const kid = `${alg}-${randomUUID()}`;
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg };
  return { alg, kid, privateKey, publicJwk };
}

/** A fresh client id, so tests never collide on the registry. */
export function newClientId(label = 'client'): string {
  return `${label}-${randomUUID()}`;
}

/** Registers a client through the admin API; fails unless it answers 201. */
export async function registerClient(
  app: INestApplication,
  metadata: Record<string, unknown>,
): Promise<void> {
  const res = await request(app.getHttpServer())
    .post('/admin/clients')
    .set('Authorization', operatorAuth)
    .send(metadata);
  if (res.status !== 201) throw new Error(`registration answered ${res.status}: ${res.text}`);
}

export interface AssertionOptions {
  clientId: string;
  key: ClientKey;
  aud: string;
  /** Claims to add or override; `undefined` values remove the claim. */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

/** A client assertion as SMART Backend Services asks for it (exp 4 minutes ahead). */
export async function signAssertion(options: AssertionOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: options.clientId,
    sub: options.clientId,
    aud: options.aud,
    exp: now + 240,
    jti: randomUUID(),
    ...options.claims,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return new jose.SignJWT(claims)
    .setProtectedHeader({
      alg: options.key.alg,
      kid: options.key.kid,
      typ: 'JWT',
      ...options.header,
    })
    .sign(options.key.privateKey);
}

/** POSTs a token request form. */
export function tokenRequest(app: INestApplication, form: Record<string, string>) {
  return request(app.getHttpServer())
    .post('/auth/token')
    .type('form')
    .send(new URLSearchParams(form).toString());
}

/** A registered client holding its own private key, as a SMART Backend Services client does. */
export interface TestClient {
  clientId: string;
  key: ClientKey;
}

/** Registers a client with a fresh ES384 key through the admin API (operator credentials). */
export async function newClient(
  app: INestApplication,
  metadata: { scope: string; containers?: string[]; max_concurrent_exports?: number },
  label = 'client',
): Promise<TestClient> {
  const key = await clientKey('ES384');
  const clientId = newClientId(label);
  await registerClient(app, { client_id: clientId, jwks: { keys: [key.publicJwk] }, ...metadata });
  return { clientId, key };
}

/**
 * Gets an access token the way a client does: a signed assertion posted to the token endpoint
 * (`tokenUrl` is the `aud` the server expects). Fails unless the endpoint answers 200.
 */
export async function obtainToken(
  app: INestApplication,
  client: TestClient,
  scope: string,
  tokenUrl: string,
): Promise<string> {
  const assertion = await signAssertion({
    clientId: client.clientId,
    key: client.key,
    aud: tokenUrl,
  });
  const res = await tokenRequest(app, {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion,
    scope,
  });
  if (res.status !== 200) throw new Error(`token request answered ${res.status}: ${res.text}`);
  return (res.body as { access_token: string }).access_token;
}
