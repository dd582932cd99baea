import request from 'supertest';
import { DataSource } from 'typeorm';
import { testBlobService } from './support/azurite';
import {
  bootExportApp,
  expectOperationOutcome,
  exportIdOf,
  exportManifest,
  kickOffResponse,
  pathOf,
  resetDatabase,
  store,
} from './support/export-helpers';
import { patientWithId } from './support/export-factories';
import { TestApp } from './support/test-app';

describe('$export against hostile or odd requests', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootExportApp();
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await resetDatabase(t.app);
  });

  it('refuses a _container that names a container of the server own exports', async () => {
    await store(t.app, [patientWithId()]);
    const { statusPath } = await exportManifest(t.app, '/$export');
    const [job] = await t.app
      .get(DataSource)
      .query<{ location: { container: string } }[]>(
        'SELECT location FROM export_job WHERE id = $1',
        [exportIdOf(statusPath)],
      );
    const res = await kickOffResponse(t.app, '/$export', {
      query: { _container: job.location.container },
    });
    expectOperationOutcome(res, 400, { expression: '_container', mentions: ['reserved'] });
  });

  it('answers 404, not 500, for a manifest file whose blob has gone from storage', async () => {
    await store(t.app, [patientWithId()]);
    const { statusPath, manifest } = await exportManifest(t.app, '/$export');
    const [job] = await t.app
      .get(DataSource)
      .query<{ location: { container: string; prefix: string } }[]>(
        'SELECT location FROM export_job WHERE id = $1',
        [exportIdOf(statusPath)],
      );
    await testBlobService()
      .getContainerClient(job.location.container)
      .getBlobClient(`${job.location.prefix}Patient-1.ndjson`)
      .delete();
    const res = await request(t.app.getHttpServer()).get(pathOf(manifest.output[0].url));
    expectOperationOutcome(res, 404, { mentions: ['Patient-1.ndjson'] });
  });

  it.each([
    '------------------------------------',
    'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
    '00000000-0000-0000-0000-00000000000%',
  ])('answers 404 to status and DELETE of the non-id %s', async (id) => {
    const path = `/_operations/export/${encodeURIComponent(id)}`;
    expectOperationOutcome(await request(t.app.getHttpServer()).get(path), 404);
    expectOperationOutcome(await request(t.app.getHttpServer()).delete(path), 404);
  });
});

describe('forwarded headers', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootExportApp({ TRUST_PROXY: 'false' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('does not let an untrusted client choose the host of Content-Location', async () => {
    const res = await kickOffResponse(t.app, '/$export', {
      headers: { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' },
    });
    expect(res.status).toBe(202);
    expect(res.headers['content-location']).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/_operations\/export\//,
    );
  });
});
