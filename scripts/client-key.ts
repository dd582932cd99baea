import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import jose from '../src/auth/jose';
import type { JWK } from '../src/auth/jose';

/** What SMART Backend Services lets a client sign its assertions with. */
export type AssertionAlgorithm = 'ES384' | 'RS384';

/** SMART Backend Services: "exp ... no more than five minutes in the future"; a margin under it. */
const ASSERTION_LIFETIME_S = 240;

/** Where a client's private key is kept unless the operator names another file. */
export function defaultKeyFile(clientId: string): string {
  return `./${clientId}.private.jwk.json`;
}

/** A fresh ES384 key pair; both JWKs carry the RFC 7638 thumbprint as `kid`, and `alg`. */
export async function generateClientKey(): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES384', { extractable: true });
  const publicPart = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(publicPart);
  return {
    privateJwk: { ...(await jose.exportJWK(privateKey)), kid, alg: 'ES384' },
    publicJwk: { ...publicPart, kid, alg: 'ES384' },
  };
}

/**
 * Writes the private JWK readable by its owner only; fails with EEXIST rather than replace a
 * key that may be the only copy of a registered client's.
 */
export async function writePrivateKey(path: string, privateJwk: JWK): Promise<void> {
  await writeFile(path, `${JSON.stringify(privateJwk, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
}

/** A client's private key as {@link writePrivateKey} stored it (or any RS384/ES384 private JWK with a kid). */
export interface PrivateKey {
  jwk: JWK;
  alg: AssertionAlgorithm;
  kid: string;
}

export async function readPrivateKey(path: string): Promise<PrivateKey> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as JWK;
  } catch (error) {
    throw new Error(`cannot read the private key ${path}: ${(error as Error).message}`);
  }
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
    throw new Error(`${path} is not a private JWK`);
  }
  if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new Error(`${path} has no "kid"`);
  const alg: unknown =
    jwk.alg ?? (jwk.kty === 'EC' ? 'ES384' : jwk.kty === 'RSA' ? 'RS384' : undefined);
  if (alg === 'ES384' || alg === 'RS384') return { jwk, alg, kid: jwk.kid };
  throw new Error(`${path} is not an ES384 or RS384 key`);
}

/** A client assertion per SMART Backend Services "Authenticating to the Token endpoint". */
export async function signClientAssertion(
  clientId: string,
  key: PrivateKey,
  tokenEndpoint: string,
): Promise<string> {
  return new jose.SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenEndpoint)
    .setExpirationTime(Math.floor(Date.now() / 1000) + ASSERTION_LIFETIME_S)
    .sign(await jose.importJWK(key.jwk, key.alg));
}
