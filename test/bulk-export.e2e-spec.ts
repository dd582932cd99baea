import { DataSource } from 'typeorm';
import {
  downloadLines,
  kickOff,
  Manifest,
  pollUntilDone,
  store,
  useExportApp,
} from './support/export-helpers';
import { api } from './support/test-app';

describe('system-level $export', () => {
  const t = useExportApp();

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

describe('CapabilityStatement for bulk export', () => {
  const t = useExportApp();

  it('instantiates the Bulk Data CapabilityStatement and declares the three export operations', async () => {
    const res = await api(t.app).get('/metadata').expect(200);
    const statement = JSON.parse(res.text) as {
      instantiates?: string[];
      rest: {
        operation?: { name: string; definition: string }[];
        resource: { type: string; operation?: { name: string; definition: string }[] }[];
      }[];
    };
    const base = 'http://hl7.org/fhir/uv/bulkdata';
    expect(statement.instantiates).toContain(`${base}/CapabilityStatement/bulk-data`);
    const [rest] = statement.rest;
    const names = (ops?: { name: string; definition: string }[]) =>
      (ops ?? []).map((o) => `${o.name} ${o.definition}`);
    expect(names(rest.operation)).toContain(`export ${base}/OperationDefinition/export`);
    const ofType = (type: string) => rest.resource.find((r) => r.type === type)?.operation;
    expect(names(ofType('Patient'))).toEqual(
      expect.arrayContaining([
        `export ${base}/OperationDefinition/patient-export`,
        `patient-export ${base}/OperationDefinition/patient-export`,
      ]),
    );
    expect(names(ofType('Group'))).toEqual(
      expect.arrayContaining([
        `export ${base}/OperationDefinition/group-export`,
        `group-export ${base}/OperationDefinition/group-export`,
      ]),
    );
  });
});
