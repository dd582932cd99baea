import { testBlobService } from './support/azurite';
import {
  expectOperationOutcome,
  exportIdOf,
  exportManifest,
  jobRow,
  kickOffResponse,
  pathOf,
  store,
  useExportApp,
} from './support/export-helpers';
import { patientWithId } from './support/export-factories';
import { api } from './support/test-app';

describe('$export against hostile or odd requests', () => {
  const t = useExportApp();

  it('refuses a _container that names a container of the server own exports', async () => {
    await store(t.app, [patientWithId()]);
    const { statusPath } = await exportManifest(t.app, '/$export');
    const { location } = await jobRow(t.app, exportIdOf(statusPath));
    const res = await kickOffResponse(t.app, '/$export', {
      query: { _container: location.container },
    });
    expectOperationOutcome(res, 400, { expression: '_container', mentions: ['reserved'] });
  });

  it('answers 404, not 500, for a manifest file whose blob has gone from storage', async () => {
    await store(t.app, [patientWithId()]);
    const { statusPath, manifest } = await exportManifest(t.app, '/$export');
    const { location } = await jobRow(t.app, exportIdOf(statusPath));
    await testBlobService()
      .getContainerClient(location.container)
      .getBlobClient(`${location.prefix}Patient-1.ndjson`)
      .delete();
    const res = await api(t.app).get(pathOf(manifest.output[0].url));
    expectOperationOutcome(res, 404, { mentions: ['Patient-1.ndjson'] });
  });

  it.each([
    '------------------------------------',
    'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
    '00000000-0000-0000-0000-00000000000%',
  ])('answers 404 to status and DELETE of the non-id %s', async (id) => {
    const path = `/_operations/export/${encodeURIComponent(id)}`;
    expectOperationOutcome(await api(t.app).get(path), 404);
    expectOperationOutcome(await api(t.app).delete(path), 404);
  });
});

describe('forwarded headers', () => {
  const t = useExportApp({ TRUST_PROXY: 'false' });

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
