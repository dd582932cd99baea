import request from 'supertest';
import { useTestApp } from './support/test-app';

describe('SMART discovery', () => {
  const t = useTestApp({ PUBLIC_BASE_URL: 'https://fhir.example.test/r4' });

  it('serves .well-known/smart-configuration for backend services', async () => {
    const res = await request(t.app.getHttpServer()).get('/.well-known/smart-configuration');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({
      token_endpoint: 'https://fhir.example.test/r4/auth/token',
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
    });
    const scopes = (res.body as { scopes_supported: string[] }).scopes_supported;
    expect(scopes).toEqual(expect.arrayContaining(['system/*.read', 'system/*.rs']));
  });

  it('declares SMART-on-FHIR and the token URL in the CapabilityStatement', async () => {
    const res = await request(t.app.getHttpServer()).get('/metadata');
    expect(res.status).toBe(200);
    const security = (JSON.parse(res.text) as { rest: { security: Record<string, unknown> }[] })
      .rest[0].security;
    expect(security).toMatchObject({
      service: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
              code: 'SMART-on-FHIR',
            },
          ],
        },
      ],
      extension: [
        {
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'token', valueUri: 'https://fhir.example.test/r4/auth/token' }],
        },
      ],
    });
  });
});

describe('SMART discovery without PUBLIC_BASE_URL', () => {
  const t = useTestApp({ PUBLIC_BASE_URL: '' });

  it('names the token endpoint on the host the request came to', async () => {
    const res = await request(t.app.getHttpServer())
      .get('/.well-known/smart-configuration')
      .set('Host', 'fhir.internal:8443');
    expect((res.body as { token_endpoint: string }).token_endpoint).toBe(
      'http://fhir.internal:8443/auth/token',
    );
  });
});
