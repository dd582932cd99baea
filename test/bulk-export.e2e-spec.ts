import { DataSource } from 'typeorm';
import { bootTestApp, TestApp } from './support/test-app';
import {
  downloadLines,
  kickOff,
  Manifest,
  pollUntilDone,
  resetDatabase,
  store,
} from './support/export-helpers';

describe('system-level $export', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await bootTestApp();
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await resetDatabase(t.app);
  });

  it('exports every stored resource, one NDJSON file per type, byte for byte', async () => {
    const [patient] = await store(t.app, [
      { resourceType: 'Patient', name: [{ family: 'Lemke' }] },
    ]);
    await store(t.app, [
      {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'a' },
        subject: { reference: `Patient/${patient.id}` },
      },
      {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'b' },
        subject: { reference: `Patient/${patient.id}` },
      },
    ]);

    const status = await kickOff(t.app, '/$export');
    const res = await pollUntilDone(t.app, status);
    expect(res.status).toBe(200);
    const manifest = res.body as Manifest;
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([
      ['Observation', 2],
      ['Patient', 1],
    ]);

    const rows = await t.app
      .get(DataSource)
      .query<{ type: string; content: string }[]>(
        `SELECT type, content FROM resource ORDER BY seq`,
      );
    for (const entry of manifest.output) {
      const lines = await downloadLines(t.app, entry.url);
      expect(lines).toEqual(rows.filter((r) => r.type === entry.type).map((r) => r.content));
    }
  });
});
