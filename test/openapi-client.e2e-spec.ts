import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import createClient, { Client } from 'openapi-fetch';
import type { components, paths } from './generated/openapi';
import {
  clientKey,
  JWT_BEARER,
  newClientId,
  OPERATOR,
  operatorAuth,
  signAssertion,
} from './support/auth-helpers';
import { store } from './support/export-helpers';
import { observation, patient } from './support/factories';
import { useTestApp } from './support/test-app';

type ExportManifest = components['schemas']['ExportManifest'];

// Everything below goes through the client generated from openapi/openapi.json: if the document
// and the server disagree on a path, header, parameter or payload, these calls fail.
const KICKOFF = { Accept: 'application/fhir+json', Prefer: 'respond-async' } as const;
const STATUS_PATH = /^\/_operations\/export\/([^/]+)$/;
const FILE_PATH = /^\/_operations\/export\/([^/]+)\/([^/]+)$/;

describe('client generated from the OpenAPI document', () => {
  const t = useTestApp({ ADMIN_CREDENTIALS: OPERATOR }, { reset: 'each' });
  let baseUrl: string;
  let client: Client<paths>;

  /** The export id in a Content-Location, which must point at the documented status path. */
  function exportIdOf(contentLocation: string | null): string {
    expect(contentLocation).not.toBeNull();
    const url = new URL(contentLocation ?? '');
    expect(url.origin).toBe(baseUrl);
    const match = STATUS_PATH.exec(url.pathname);
    if (!match) throw new Error(`Content-Location ${contentLocation} is not a status URL`);
    return match[1];
  }

  /** Polls getExportStatus until it stops answering 202; bounded. */
  async function manifestOf(id: string): Promise<ExportManifest> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { data, error, response } = await client.GET('/_operations/export/{id}', {
        params: { path: { id } },
      });
      if (response.status !== 202) {
        if (error || !data) throw new Error(`status ${response.status}: ${JSON.stringify(error)}`);
        expect(response.status).toBe(200);
        return data;
      }
      expect(response.headers.get('X-Progress')).toEqual(expect.any(String));
      expect(response.headers.get('Retry-After')).toMatch(/^\d+$/);
      if (Date.now() > deadline) throw new Error(`export ${id} still running`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    const { port } = (t.app.getHttpServer() as Server).address() as AddressInfo;
    baseUrl = `http://127.0.0.1:${port}`;
    client = createClient<paths>({ baseUrl, headers: { Authorization: await accessToken() } });
  });

  /**
   * What a new backend client does, through the generated client too: the operator registers
   * its public key, it finds the token endpoint and trades a signed assertion for a token.
   */
  async function accessToken(): Promise<string> {
    const anonymous = createClient<paths>({ baseUrl });
    const key = await clientKey('ES384');
    const clientId = newClientId('openapi');
    const registered = await anonymous.POST('/admin/clients', {
      headers: { Authorization: operatorAuth },
      body: { client_id: clientId, jwks: { keys: [key.publicJwk] }, scope: 'system/*.*' },
    });
    expect(registered.response.status).toBe(201);
    const discovery = await anonymous.GET('/.well-known/smart-configuration');
    const tokenUrl = (discovery.data as { token_endpoint: string }).token_endpoint;
    expect(tokenUrl).toBe(`${baseUrl}/auth/token`);
    const token = await anonymous.POST('/auth/token', {
      body: {
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER,
        client_assertion: await signAssertion({ clientId, key, aud: tokenUrl }),
        scope: 'system/*.read',
      },
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(token.response.status).toBe(200);
    expect(token.data?.scope).toBe('system/*.read');
    return `Bearer ${token.data?.access_token}`;
  }

  it('kicks off by GET, polls to the manifest and downloads a file at its manifest URL', async () => {
    const [alice, bob] = await store(t.app, [patient(), patient()]);
    await store(t.app, [observation(`Patient/${alice.id}`)]);

    const kickoff = await client.GET('/$export', {
      params: { header: KICKOFF, query: { _type: 'Patient,Observation', _outputFormat: 'ndjson' } },
    });
    expect(kickoff.response.status).toBe(202);
    const id = exportIdOf(kickoff.response.headers.get('Content-Location'));

    const manifest = await manifestOf(id);
    expect(manifest.request).toBe(kickoff.response.url);
    expect(Date.parse(manifest.transactionTime)).not.toBeNaN();
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.output.map((file) => [file.type, file.count])).toEqual([
      ['Observation', 1],
      ['Patient', 2],
    ]);
    expect(manifest.error).toEqual([]);
    expect(manifest.deleted).toEqual([]);

    const patientFile = manifest.output.find((file) => file.type === 'Patient');
    const url = new URL(patientFile?.url ?? '');
    const [, fileExportId, file] = FILE_PATH.exec(url.pathname) ?? [];
    expect(fileExportId).toBe(id);
    const download = await client.GET('/_operations/export/{id}/{file}', {
      params: { path: { id, file } },
      parseAs: 'text',
    });
    expect(download.response.status).toBe(200);
    expect(download.response.headers.get('Content-Type')).toMatch(/^application\/fhir\+ndjson/);
    const text = download.data ?? '';
    expect(text.endsWith('\n')).toBe(true);
    const ids = text
      .slice(0, -1)
      .split('\n')
      .map((line) => (JSON.parse(line) as { resourceType: string; id: string }).id)
      .sort();
    expect(ids).toEqual([alice.id, bob.id].sort());
  });

  it('kicks off by POST with a Parameters body and exports only the requested types', async () => {
    const [alice] = await store(t.app, [patient()]);
    await store(t.app, [observation(`Patient/${alice.id}`), observation(`Patient/${alice.id}`)]);

    const kickoff = await client.POST('/$export', {
      params: { header: KICKOFF },
      headers: { 'Content-Type': 'application/fhir+json' },
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Observation' },
          { name: '_outputFormat', valueCode: 'application/fhir+ndjson' },
        ],
      },
    });
    expect(kickoff.response.status).toBe(202);

    const manifest = await manifestOf(exportIdOf(kickoff.response.headers.get('Content-Location')));
    expect(manifest.request).toBe(`${baseUrl}/$export`);
    expect(manifest.output.map((file) => [file.type, file.count])).toEqual([['Observation', 2]]);
  });

  it('cancels an export: DELETE answers 202, then status and a second DELETE answer 404', async () => {
    await store(t.app, [patient()]);
    const kickoff = await client.GET('/Patient/$export', { params: { header: KICKOFF } });
    expect(kickoff.response.status).toBe(202);
    const id = exportIdOf(kickoff.response.headers.get('Content-Location'));

    const cancel = await client.DELETE('/_operations/export/{id}', { params: { path: { id } } });
    expect(cancel.response.status).toBe(202);

    const status = await client.GET('/_operations/export/{id}', { params: { path: { id } } });
    expect(status.response.status).toBe(404);
    expect(status.error?.resourceType).toBe('OperationOutcome');
    expect(status.error?.issue[0].code).toBe('not-found');

    const again = await client.DELETE('/_operations/export/{id}', { params: { path: { id } } });
    expect(again.response.status).toBe(404);
    expect(again.error?.resourceType).toBe('OperationOutcome');
  });

  it('gets a 400 OperationOutcome naming the header when Prefer lacks respond-async', async () => {
    const { error, response } = await client.GET('/Group/{id}/$export', {
      params: { header: { ...KICKOFF, Prefer: 'return=minimal' }, path: { id: 'g1' } },
    });
    expect(response.status).toBe(400);
    expect(error?.resourceType).toBe('OperationOutcome');
    expect(error?.issue[0].expression).toEqual(['Prefer']);
  });

  it('serves the committed document at /docs-json and the Swagger UI at /docs', async () => {
    const json = await fetch(`${baseUrl}/docs-json`);
    expect(json.status).toBe(200);
    const committed = readFileSync(join(__dirname, '..', 'openapi', 'openapi.json'), 'utf8');
    expect(await json.json()).toEqual(JSON.parse(committed));

    const ui = await fetch(`${baseUrl}/docs`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('Content-Type')).toMatch(/^text\/html/);
    const html = await ui.text();
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) {
      const asset = await fetch(new URL(src, ui.url));
      expect([src, asset.status]).toEqual([src, 200]);
    }
  });
});
