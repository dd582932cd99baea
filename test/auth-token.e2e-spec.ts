import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import jose from '../src/auth/jose';
import { ServerKeys } from '../src/auth/token/server-keys.service';
import { InvalidTokenError, TokenVerifier } from '../src/auth/token/token-verifier.service';
import {
  ClientKey,
  clientKey,
  JWT_BEARER,
  newClientId,
  OPERATOR,
  operatorAuth,
  registerClient,
  signAssertion,
  tokenRequest,
} from './support/auth-helpers';
import { useTestApp } from './support/test-app';

const BASE = 'https://fhir.example.test';
const TOKEN_URL = `${BASE}/auth/token`;

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  error?: string;
  error_description?: string;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('token endpoint (SMART Backend Services client credentials)', () => {
  const t = useTestApp({
    ADMIN_CREDENTIALS: OPERATOR,
    PUBLIC_BASE_URL: BASE,
    AUTH_ALLOW_LOOPBACK_JWKS: 'true',
    AUTH_JWKS_TIMEOUT_MS: '500',
  });
  let es: ClientKey;
  let rs: ClientKey;
  let clientId: string;

  beforeAll(async () => {
    es = await clientKey('ES384');
    rs = await clientKey('RS384');
    clientId = newClientId('inline');
    await registerClient(t.app, {
      client_id: clientId,
      jwks: { keys: [es.publicJwk, rs.publicJwk] },
      scope: 'system/*.read system/Observation.cruds',
    });
  });

  const form = (
    assertion: string,
    scope = 'system/*.read',
    extra: Record<string, string> = {},
  ) => ({
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion,
    scope,
    ...extra,
  });

  const ask = async (assertion: string, scope?: string, extra?: Record<string, string>) => {
    const res = await tokenRequest(t.app, form(assertion, scope, extra));
    return { status: res.status, body: res.body as TokenBody, headers: res.headers };
  };

  /** The request failed as `error` with a description matching `message`. */
  const expectError = (
    res: { status: number; body: TokenBody },
    error: string,
    message: RegExp,
  ) => {
    expect(res.body.error).toBe(error);
    expect(res.body.error_description).toMatch(message);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  };

  /** Nothing was stored for `jti`: a valid assertion with it still gets a token. */
  const expectJtiUnused = async (jti: string, key = es, id = clientId) => {
    const res = await ask(
      await signAssertion({ clientId: id, key, aud: TOKEN_URL, claims: { jti } }),
    );
    expect(res.status).toBe(200);
  };

  describe('issues tokens', () => {
    it.each(['ES384', 'RS384'] as const)('for an assertion signed %s', async (alg) => {
      const key = alg === 'ES384' ? es : rs;
      const res = await ask(await signAssertion({ clientId, key, aud: TOKEN_URL }));
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toMatchObject({
        token_type: 'bearer',
        expires_in: 300,
        scope: 'system/*.read',
      });
      expect(res.body).not.toHaveProperty('refresh_token');
      const header = jose.decodeProtectedHeader(res.body.access_token);
      expect(header.typ).toBe('at+jwt');
      const claims = jose.decodeJwt(res.body.access_token);
      expect(claims).toMatchObject({ sub: clientId, client_id: clientId, aud: BASE });
      expect((claims.exp as number) - (claims.iat as number)).toBe(300);
    });

    it('grants the intersection of the requested and the registered scopes', async () => {
      const res = await ask(
        await signAssertion({ clientId, key: es, aud: TOKEN_URL }),
        'system/*.cruds system/Patient.rs system/Observation.write',
      );
      expect(res.status).toBe(200);
      // Patient.rs and Observation.write are within *.rs and Observation.cruds.
      expect(res.body.scope.split(' ')).toEqual(['system/*.rs', 'system/Observation.cruds']);
    });

    it('accepts a client_id parameter equal to the assertion iss', async () => {
      const res = await ask(
        await signAssertion({ clientId, key: es, aud: TOKEN_URL }),
        'system/*.rs',
        {
          client_id: clientId,
        },
      );
      expect(res.status).toBe(200);
    });
  });

  describe('TokenVerifier', () => {
    const verifier = () => t.app.get(TokenVerifier);

    it('accepts the server’s own token and says whose it is', async () => {
      const res = await ask(
        await signAssertion({ clientId, key: es, aud: TOKEN_URL }),
        'system/Patient.rs',
      );
      const principal = await verifier().verify(res.body.access_token, { audience: BASE });
      expect(principal).toMatchObject({ clientId, scope: 'system/Patient.rs' });
      expect(principal.scopes).toHaveLength(1);
      expect(principal.expiresAt.getTime()).toBeGreaterThan(Date.now());
    });

    it('refuses a tampered token, a client-signed JWT, and a token for another audience', async () => {
      const res = await ask(await signAssertion({ clientId, key: es, aud: TOKEN_URL }));
      const [h, , s] = res.body.access_token.split('.');
      const tampered = `${h}.${b64url({ sub: clientId, client_id: clientId, scope: 'system/*.cruds', exp: 9e9 })}.${s}`;
      await expect(verifier().verify(tampered)).rejects.toThrow(InvalidTokenError);
      const forged = await new jose.SignJWT({ client_id: clientId, scope: 'system/*.cruds' })
        .setProtectedHeader({ alg: 'ES384', kid: es.kid, typ: 'at+jwt' })
        .setSubject(clientId)
        .setExpirationTime('1m')
        .sign(es.privateKey);
      await expect(verifier().verify(forged)).rejects.toThrow(/not signed by a key of this server/);
      await expect(
        verifier().verify(res.body.access_token, { audience: 'https://other.test' }),
      ).rejects.toThrow(InvalidTokenError);
    });

    it('refuses an expired token', async () => {
      const key = t.app.get(ServerKeys).signingKey();
      const now = Math.floor(Date.now() / 1000);
      const expired = await new jose.SignJWT({ client_id: clientId, scope: 'system/*.read' })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
        .setSubject(clientId)
        .setIssuedAt(now - 400)
        .setExpirationTime(now - 100)
        .sign(key.privateKey);
      await expect(verifier().verify(expired)).rejects.toThrow('The access token has expired');
    });

    it('refuses the tokens of a client at once when an operator revokes it', async () => {
      const id = newClientId('revoked');
      await registerClient(t.app, {
        client_id: id,
        jwks: { keys: [es.publicJwk] },
        scope: 'system/*.read',
      });
      const res = await ask(await signAssertion({ clientId: id, key: es, aud: TOKEN_URL }));
      expect(res.status).toBe(200);
      await expect(verifier().verify(res.body.access_token)).resolves.toMatchObject({
        clientId: id,
      });
      const revoke = await request(t.app.getHttpServer())
        .delete(`/admin/clients/${id}`)
        .set('Authorization', operatorAuth);
      expect(revoke.status).toBe(204);
      await expect(verifier().verify(res.body.access_token)).rejects.toThrow(
        `Client ${id} has been revoked`,
      );
      const again = await ask(await signAssertion({ clientId: id, key: es, aud: TOKEN_URL }));
      expectError(again, 'invalid_client', new RegExp(`Client ${id} has been revoked`));
    });
  });

  describe('refuses bad assertions with invalid_client and stores nothing', () => {
    it('a malformed assertion', async () => {
      expectError(await ask('not-a-jwt'), 'invalid_client', /not a compact JWS/);
      expectError(await ask('e30.e30.e30.e30.e30'), 'invalid_client', /not a compact JWS/);
    });

    it('an assertion whose parts are not JSON', async () => {
      expectError(await ask('bm90anNvbg.bm90anNvbg.c2ln'), 'invalid_client', /cannot be decoded/);
    });

    it('an unsigned assertion (alg none)', async () => {
      const jti = randomUUID();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const claims = { iss: clientId, sub: clientId, aud: TOKEN_URL, exp, jti };
      const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
      expectError(await ask(unsigned), 'invalid_client', /unsigned \(alg "none"\)/);
      const noneWithKid = `${b64url({ alg: 'none', kid: es.kid })}.${b64url(claims)}.`;
      expectError(await ask(noneWithKid), 'invalid_client', /unsigned/);
      await expectJtiUnused(jti);
    });

    it('HS256 with the public key as the secret', async () => {
      const jti = randomUUID();
      const secret = new TextEncoder().encode(JSON.stringify(es.publicJwk));
      const now = Math.floor(Date.now() / 1000);
      const forged = await new jose.SignJWT({
        iss: clientId,
        sub: clientId,
        aud: TOKEN_URL,
        exp: now + 60,
        jti,
      })
        .setProtectedHeader({ alg: 'HS256', kid: es.kid })
        .sign(secret);
      expectError(await ask(forged), 'invalid_client', /alg "HS256" is not accepted/);
      await expectJtiUnused(jti);
    });

    it.each<[string, Partial<Parameters<typeof signAssertion>[0]>, RegExp]>([
      [
        'a wrong aud',
        { aud: `${BASE}/other/token` },
        /aud must be the token URL https:\/\/fhir.example.test\/auth\/token/,
      ],
      [
        'iss other than sub',
        { claims: { sub: 'someone-else' } },
        /iss and sub must both be the client_id/,
      ],
      [
        'an expired assertion',
        { claims: { exp: Math.floor(Date.now() / 1000) - 60 } },
        /has expired/,
      ],
      [
        'exp more than 5 minutes ahead',
        { claims: { exp: Math.floor(Date.now() / 1000) + 3600 } },
        /at most 300 s in the future/,
      ],
      ['no exp', { claims: { exp: undefined } }, /no exp/],
      ['an unknown kid', { header: { kid: 'no-such-key' } }, /has no key with kid "no-such-key"/],
      [
        'a jku header on a client registered with inline keys',
        { header: { jku: 'https://evil.test/jwks' } },
        /jku "https:\/\/evil.test\/jwks" is not the JWKS URL registered/,
      ],
      ['no kid', { header: { kid: undefined } }, /no kid/],
    ])('%s', async (_name, options, message) => {
      const jti = randomUUID();
      const assertion = await signAssertion({
        clientId,
        key: es,
        aud: TOKEN_URL,
        ...options,
        claims: { jti, ...options.claims },
      });
      expectError(await ask(assertion), 'invalid_client', message);
      await expectJtiUnused(jti);
    });

    it('no jti', async () => {
      const assertion = await signAssertion({
        clientId,
        key: es,
        aud: TOKEN_URL,
        claims: { jti: undefined },
      });
      expectError(await ask(assertion), 'invalid_client', /no jti/);
    });

    it('a signature by another key under a registered kid', async () => {
      const jti = randomUUID();
      const impostor = { ...(await clientKey('ES384')), kid: es.kid };
      const assertion = await signAssertion({
        clientId,
        key: impostor,
        aud: TOKEN_URL,
        claims: { jti },
      });
      expectError(
        await ask(assertion),
        'invalid_client',
        new RegExp(`signature does not verify with key ${es.kid}`),
      );
      await expectJtiUnused(jti);
    });

    it('a replayed jti', async () => {
      const assertion = await signAssertion({ clientId, key: es, aud: TOKEN_URL });
      expect((await ask(assertion)).status).toBe(200);
      const replay = await ask(assertion);
      expectError(replay, 'invalid_client', /jti ".+" was already used/);
    });

    it('an unregistered client', async () => {
      const stranger = newClientId('stranger');
      const assertion = await signAssertion({ clientId: stranger, key: es, aud: TOKEN_URL });
      expectError(
        await ask(assertion),
        'invalid_client',
        new RegExp(`Client ${stranger} is not registered`),
      );
    });

    it('a client_id parameter other than the assertion iss', async () => {
      const jti = randomUUID();
      const assertion = await signAssertion({ clientId, key: es, aud: TOKEN_URL, claims: { jti } });
      const res = await ask(assertion, 'system/*.read', { client_id: 'someone-else' });
      expectError(res, 'invalid_client', /client_id does not match/);
      await expectJtiUnused(jti);
    });
  });

  describe('refuses bad requests', () => {
    const signed = (jti: string) =>
      signAssertion({ clientId, key: es, aud: TOKEN_URL, claims: { jti } });

    it('a scope with an unknown action: invalid_scope', async () => {
      const jti = randomUUID();
      expectError(
        await ask(await signed(jti), 'system/*.rw'),
        'invalid_scope',
        /unknown action "rw"/,
      );
      expectError(
        await ask(await signed(jti), 'system/*.read system/*.delete'),
        'invalid_scope',
        /unknown action "delete"/,
      );
      await expectJtiUnused(jti);
    });

    it('a scope with an unknown resource type, or not a system scope: invalid_scope', async () => {
      const jti = randomUUID();
      expectError(
        await ask(await signed(jti), 'system/Unicorn.read'),
        'invalid_scope',
        /Unicorn is not a FHIR R4 resource type/,
      );
      expectError(
        await ask(await signed(jti), 'patient/*.read'),
        'invalid_scope',
        /only system\/ scopes/,
      );
      await expectJtiUnused(jti);
    });

    it('scopes the client is not registered for: invalid_scope', async () => {
      const jti = randomUUID();
      expectError(
        await ask(await signed(jti), 'system/Patient.write'),
        'invalid_scope',
        /None of the requested scopes is granted/,
      );
      await expectJtiUnused(jti);
    });

    it('no scope: invalid_scope', async () => {
      const res = await tokenRequest(t.app, {
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER,
        client_assertion: await signed(randomUUID()),
      });
      expectError(
        { status: res.status, body: res.body as TokenBody },
        'invalid_scope',
        /scope is required/,
      );
    });

    it('another grant type: unsupported_grant_type', async () => {
      const res = await ask(await signed(randomUUID()), 'system/*.read', {
        grant_type: 'password',
      });
      expectError(res, 'unsupported_grant_type', /"password" is not supported/);
    });

    it('no grant type, or another assertion type: invalid_request', async () => {
      const res = await tokenRequest(t.app, {
        client_assertion_type: JWT_BEARER,
        client_assertion: 'x',
        scope: 's',
      });
      expectError(
        { status: res.status, body: res.body as TokenBody },
        'invalid_request',
        /grant_type is required/,
      );
      const other = await ask(await signed(randomUUID()), 'system/*.read', {
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
      });
      expectError(other, 'invalid_request', /client_assertion_type must be/);
    });

    it('a repeated parameter: invalid_request', async () => {
      const body = `${new URLSearchParams(form(await signed(randomUUID()))).toString()}&scope=system%2F*.rs`;
      const res = await request(t.app.getHttpServer()).post('/auth/token').type('form').send(body);
      expectError(
        { status: res.status, body: res.body as TokenBody },
        'invalid_request',
        /scope is given more than once/,
      );
    });

    it('a JSON body: invalid_request', async () => {
      const res = await request(t.app.getHttpServer())
        .post('/auth/token')
        .send(form(await signed(randomUUID())));
      expectError(
        { status: res.status, body: res.body as TokenBody },
        'invalid_request',
        /x-www-form-urlencoded/,
      );
    });
  });

  describe('with a JWKS URL', () => {
    let server: Server;
    let base: string;
    let fetches = 0;
    let key: ClientKey;

    const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
      '/good': (_req, res) => {
        fetches++;
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('Cache-Control', 'max-age=600');
        res.end(
          JSON.stringify({ keys: [key.publicJwk, { kty: 'oct', k: 'c2VjcmV0', kid: 'sym' }] }),
        );
      },
      '/hang': () => undefined,
      '/garbage': (_req, res) => res.end('<html>not json</html>'),
      '/not-a-set': (_req, res) => res.end('{"keys": "none"}'),
      '/huge-declared': (_req, res) => {
        res.setHeader('Content-Length', String(10 * 1024 * 1024));
        res.write(' '.repeat(1024));
      },
      '/huge-chunked': (_req, res) => {
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const more = () => {
          while (sent < 10 && res.write(chunk)) sent++;
          if (sent < 10)
            res.once('drain', () => {
              sent++;
              more();
            });
          else res.end();
        };
        res.on('error', () => undefined);
        more();
      },
      '/error': (_req, res) => {
        res.statusCode = 500;
        res.end('{}');
      },
      '/redirect': (_req, res) => {
        res.statusCode = 302;
        res.setHeader('Location', '/good');
        res.end();
      },
    };

    beforeAll(async () => {
      key = await clientKey('RS384');
      server = createServer((req, res) =>
        (
          routes[req.url ?? ''] ??
          ((_q, r) => {
            r.statusCode = 404;
            r.end();
          })
        )(req, res),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    const withJwksAt = async (path: string) => {
      const id = newClientId(`url${path.replace('/', '-')}`);
      await registerClient(t.app, {
        client_id: id,
        jwks_uri: `${base}${path}`,
        scope: 'system/*.read',
      });
      return id;
    };

    it('fetches the keys, skips unusable ones, and caches them as the response says', async () => {
      const id = await withJwksAt('/good');
      const before = fetches;
      for (let i = 0; i < 3; i++) {
        const res = await ask(await signAssertion({ clientId: id, key, aud: TOKEN_URL }));
        expect(res.status).toBe(200);
      }
      expect(fetches - before).toBe(1);
    });

    it('accepts a jku header equal to the registered URL and refuses any other', async () => {
      const id = await withJwksAt('/good');
      const ok = await ask(
        await signAssertion({ clientId: id, key, aud: TOKEN_URL, header: { jku: `${base}/good` } }),
      );
      expect(ok.status).toBe(200);
      const jti = randomUUID();
      const bad = await ask(
        await signAssertion({
          clientId: id,
          key,
          aud: TOKEN_URL,
          header: { jku: `${base}/other` },
          claims: { jti },
        }),
      );
      expectError(bad, 'invalid_client', /jku ".*\/other" is not the JWKS URL registered/);
      await expectJtiUnused(jti, key, id);
    });

    it('refuses an unknown kid at the URL', async () => {
      const id = await withJwksAt('/good');
      const res = await ask(
        await signAssertion({ clientId: id, key: { ...key, kid: 'missing' }, aud: TOKEN_URL }),
      );
      expectError(res, 'invalid_client', /has no key with kid "missing"/);
    });

    it.each([
      ['/hang', /did not answer within 500 ms/],
      ['/garbage', /did not return JSON/],
      ['/not-a-set', /did not return a JWK Set/],
      ['/huge-declared', /larger than 262144 bytes/],
      ['/huge-chunked', /larger than 262144 bytes/],
      ['/error', /answered HTTP 500/],
      ['/redirect', /could not be fetched/],
    ])('refuses when the JWKS URL %s', async (path, message) => {
      const id = await withJwksAt(path);
      const res = await ask(await signAssertion({ clientId: id, key, aud: TOKEN_URL }));
      expectError(res, 'invalid_client', new RegExp(`Cannot get the keys of client ${id}: .*`));
      expect(res.body.error_description).toMatch(message);
    });
  });
});

describe('token endpoint with loopback JWKS URLs not allowed', () => {
  const t = useTestApp({ ADMIN_CREDENTIALS: OPERATOR, PUBLIC_BASE_URL: BASE });

  it('refuses to register an http JWKS URL on loopback', async () => {
    const res = await request(t.app.getHttpServer())
      .post('/admin/clients')
      .set('Authorization', operatorAuth)
      .send({
        client_id: newClientId(),
        jwks_uri: 'http://127.0.0.1:9/jwks',
        scope: 'system/*.read',
      });
    expect(res.status).toBe(400);
    expect((res.body as TokenBody).error_description).toBe('jwks_uri must be an https URL');
  });
});
