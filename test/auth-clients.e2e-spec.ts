import request from 'supertest';
import { clientKey, newClientId, OPERATOR, operatorAuth } from './support/auth-helpers';
import { useTestApp } from './support/test-app';

describe('client administration at /admin/clients', () => {
  const t = useTestApp({ ADMIN_CREDENTIALS: OPERATOR });
  const http = () => request(t.app.getHttpServer());
  const post = (body: unknown) =>
    http()
      .post('/admin/clients')
      .set('Authorization', operatorAuth)
      .send(body as object);
  const listed = async (clientId: string) => {
    const res = await http().get('/admin/clients').set('Authorization', operatorAuth);
    return (res.body as { client_id: string }[]).find((c) => c.client_id === clientId);
  };

  it('registers a client with an inline JWK Set: 201 with its metadata, then lists it', async () => {
    const key = await clientKey('ES384');
    const clientId = newClientId();
    const res = await post({
      client_id: clientId,
      jwks: { keys: [key.publicJwk] },
      scope: 'system/*.read system/Group.rs',
      containers: ['exports-a', 'exports-b'],
      max_concurrent_exports: 2,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      client_id: clientId,
      jwks: { keys: [{ kid: key.kid }] },
      scope: 'system/*.read system/Group.rs',
      containers: ['exports-a', 'exports-b'],
      max_concurrent_exports: 2,
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
    });
    expect(await listed(clientId)).toMatchObject({
      client_id: clientId,
      scope: 'system/*.read system/Group.rs',
    });
  });

  it('registers a client with a JWKS URL', async () => {
    const clientId = newClientId();
    const res = await post({
      client_id: clientId,
      jwks_uri: 'https://client.example.test/jwks.json',
      scope: 'system/*.rs',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      jwks_uri: 'https://client.example.test/jwks.json',
      containers: [],
    });
  });

  it('answers 409 for a client_id already registered', async () => {
    const key = await clientKey();
    const clientId = newClientId();
    const body = { client_id: clientId, jwks: { keys: [key.publicJwk] }, scope: 'system/*.read' };
    expect((await post(body)).status).toBe(201);
    const again = await post(body);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'invalid_client_metadata' });
  });

  it('revokes a client with DELETE: 204, listed with revoked_at, its id not reusable', async () => {
    const key = await clientKey();
    const clientId = newClientId();
    const body = { client_id: clientId, jwks: { keys: [key.publicJwk] }, scope: 'system/*.read' };
    await post(body);
    const res = await http()
      .delete(`/admin/clients/${clientId}`)
      .set('Authorization', operatorAuth);
    expect(res.status).toBe(204);
    expect((await listed(clientId)) as unknown).toMatchObject({ revoked_at: expect.any(String) });
    const again = await http()
      .delete(`/admin/clients/${clientId}`)
      .set('Authorization', operatorAuth);
    expect(again.status).toBe(404);
    const reuse = await post(body);
    expect(reuse.status).toBe(409);
    expect((reuse.body as { error_description: string }).error_description).toMatch(/revoked/);
  });

  it('answers 404 for DELETE of a client never registered', async () => {
    const res = await http().delete('/admin/clients/nobody').set('Authorization', operatorAuth);
    expect(res.status).toBe(404);
  });

  it.each([
    ['no credentials', undefined],
    ['a wrong password', `Basic ${Buffer.from('operator:wrong').toString('base64')}`],
    ['a bearer token', 'Bearer abc'],
  ])('asks for operator credentials (401) with %s', async (_name, authorization) => {
    for (const call of [
      http().get('/admin/clients'),
      http().post('/admin/clients').send({}),
      http().delete('/admin/clients/x'),
    ]) {
      const res = authorization ? await call.set('Authorization', authorization) : await call;
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    }
  });

  describe('refuses bad metadata with 400 invalid_client_metadata and stores nothing', () => {
    it.each<[string, (jwk: Record<string, unknown>) => Record<string, unknown>, RegExp]>([
      [
        'no client_id',
        (jwk) => ({ jwks: { keys: [jwk] }, scope: 'system/*.read' }),
        /client_id is required/,
      ],
      [
        'neither jwks nor jwks_uri',
        () => ({ scope: 'system/*.read' }),
        /Exactly one of jwks and jwks_uri/,
      ],
      [
        'both jwks and jwks_uri',
        (jwk) => ({ jwks: { keys: [jwk] }, jwks_uri: 'https://a.test/j', scope: 'system/*.read' }),
        /Exactly one of jwks and jwks_uri/,
      ],
      [
        'an http jwks_uri',
        () => ({ jwks_uri: 'http://a.test/j', scope: 'system/*.read' }),
        /https/,
      ],
      ['an empty key set', () => ({ jwks: { keys: [] }, scope: 'system/*.read' }), /no keys/],
      [
        'a private key',
        (jwk) => ({ jwks: { keys: [{ ...jwk, d: 'AAAA' }] }, scope: 'system/*.read' }),
        /private key material/,
      ],
      [
        'a symmetric key',
        () => ({
          jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k' }] },
          scope: 'system/*.read',
        }),
        /symmetric/,
      ],
      [
        'a key without kid',
        (jwk) => ({ jwks: { keys: [{ ...jwk, kid: undefined }] }, scope: 'system/*.read' }),
        /has no "kid"/,
      ],
      ['no scope', (jwk) => ({ jwks: { keys: [jwk] } }), /scope is required/],
      [
        'a scope with an unknown action',
        (jwk) => ({ jwks: { keys: [jwk] }, scope: 'system/*.rw' }),
        /unknown action "rw"/,
      ],
      [
        'a scope with an unknown resource type',
        (jwk) => ({ jwks: { keys: [jwk] }, scope: 'system/Unicorn.read' }),
        /Unicorn is not a FHIR R4 resource type/,
      ],
      [
        'an invalid container name',
        (jwk) => ({ jwks: { keys: [jwk] }, scope: 'system/*.read', containers: ['Bad_Name'] }),
        /not a valid Azure Blob container name/,
      ],
      [
        'a non-integer max_concurrent_exports',
        (jwk) => ({ jwks: { keys: [jwk] }, scope: 'system/*.read', max_concurrent_exports: 0 }),
        /max_concurrent_exports/,
      ],
      [
        'unknown metadata',
        (jwk) => ({ jwks: { keys: [jwk] }, scope: 'system/*.read', redirect_uris: ['https://x'] }),
        /Unknown client metadata "redirect_uris"/,
      ],
    ])('%s', async (_name, build, message) => {
      const key = await clientKey();
      const clientId = newClientId();
      const body = { client_id: clientId, ...build(key.publicJwk) };
      if (_name === 'no client_id') delete (body as { client_id?: string }).client_id;
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'invalid_client_metadata' });
      expect((res.body as { error_description: string }).error_description).toMatch(message);
      expect(await listed(clientId)).toBeUndefined();
    });
  });
});

describe('client administration without ADMIN_CREDENTIALS', () => {
  const t = useTestApp({ ADMIN_CREDENTIALS: '' });

  it('does not exist (404)', async () => {
    const res = await request(t.app.getHttpServer()).get('/admin/clients');
    expect(res.status).toBe(404);
  });
});
