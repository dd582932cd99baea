import { generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '../../config/app-config';
import jose from '../jose';
import { AccessTokenIssuer } from './access-token.service';
import { parseSigningKeys, ServerKeys } from './server-keys.service';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

async function serverKeys(signingKey?: string): Promise<ServerKeys> {
  const keys = new ServerKeys(loadConfig(signingKey ? { AUTH_SIGNING_KEY: signingKey } : {}));
  await keys.onModuleInit();
  return keys;
}

describe('AUTH_SIGNING_KEY', () => {
  it('takes a private JWK: EC P-384 signs ES384, RSA signs RS384', async () => {
    expect(
      (await serverKeys(JSON.stringify(ec().export({ format: 'jwk' })))).signingKey().alg,
    ).toBe('ES384');
    expect(
      (await serverKeys(JSON.stringify(rsa().export({ format: 'jwk' })))).signingKey().alg,
    ).toBe('RS384');
  });

  it('takes a PKCS#8 PEM', async () => {
    const pem = ec().export({ format: 'pem', type: 'pkcs8' }).toString();
    expect((await serverKeys(pem)).signingKey().alg).toBe('ES384');
  });

  it('takes a JWK Set for rotation: the first key signs, every key verifies', async () => {
    const next = ec();
    const previous = rsa();
    const previousOnly = await serverKeys(JSON.stringify(previous.export({ format: 'jwk' })));
    const config = loadConfig({});
    const oldToken = await new AccessTokenIssuer(previousOnly, config).issue({
      clientId: 'c',
      scope: 'system/*.read',
      baseUrl: 'https://fhir.test',
    });
    const rotated = await serverKeys(
      JSON.stringify({
        keys: [next.export({ format: 'jwk' }), previous.export({ format: 'jwk' })],
      }),
    );
    expect(rotated.signingKey().alg).toBe('ES384');
    const { kid } = jose.decodeProtectedHeader(oldToken.access_token);
    const key = rotated.verificationKey(kid);
    expect(key?.alg).toBe('RS384');
    await expect(jose.jwtVerify(oldToken.access_token, key!.publicKey)).resolves.toBeTruthy();
    expect(rotated.verificationKey('unknown')).toBeUndefined();
  });

  it('generates an ES384 key when unset', async () => {
    expect((await serverKeys()).signingKey().alg).toBe('ES384');
  });

  it.each([
    ['not a key', /not a private JWK, JWK Set or PKCS#8 PEM/],
    [JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }), /private key/],
    [JSON.stringify({ keys: [] }), /no keys/],
  ])('refuses %s', (value, message) => {
    expect(() => parseSigningKeys(value)).toThrow(message);
  });

  it('refuses a public key and keys of other curves or sizes', async () => {
    const publicJwk = JSON.stringify(
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }),
    );
    expect(() => parseSigningKeys(publicJwk)).toThrow(/private key/);
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await expect(serverKeys(JSON.stringify(p256.export({ format: 'jwk' })))).rejects.toThrow(
      /P-384/,
    );
  });
});

describe('AccessTokenIssuer', () => {
  it('signs a short-lived at+jwt naming the client and its scopes', async () => {
    const keys = await serverKeys();
    const config = loadConfig({ AUTH_TOKEN_LIFETIME_S: '120' });
    const token = await new AccessTokenIssuer(keys, config).issue({
      clientId: 'client-1',
      scope: 'system/Patient.rs',
      baseUrl: 'https://fhir.test',
    });
    expect(token).toMatchObject({
      token_type: 'bearer',
      expires_in: 120,
      scope: 'system/Patient.rs',
    });
    const { payload, protectedHeader } = await jose.jwtVerify(
      token.access_token,
      keys.signingKey().publicKey,
      { audience: 'https://fhir.test', issuer: 'https://fhir.test' },
    );
    expect(protectedHeader).toMatchObject({
      alg: 'ES384',
      typ: 'at+jwt',
      kid: keys.signingKey().kid,
    });
    expect(payload).toMatchObject({
      sub: 'client-1',
      client_id: 'client-1',
      scope: 'system/Patient.rs',
    });
    expect((payload.exp as number) - (payload.iat as number)).toBe(120);
  });
});
