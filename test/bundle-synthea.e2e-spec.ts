import { basename } from 'node:path';
import { DataSource } from 'typeorm';
import { readBundle, syntheaBundleFiles } from './support/factories';
import { api, useTestApp } from './support/test-app';

// Synthea's types outside the Patient compartment (shared across patients).
const NOT_IN_PATIENT_COMPARTMENT = new Set(['Organization', 'Practitioner', 'Location']);

describe('loading Synthea transaction Bundles', () => {
  const t = useTestApp();

  it.each(syntheaBundleFiles().map((file) => [basename(file), file]))(
    'stores every entry of %s with references resolved and the patient compartment recorded',
    async (_name, file) => {
      const bundle = readBundle(file);
      const db = t.app.get(DataSource);

      const res = await api(t.app)
        .post('/')
        .set('Content-Type', 'application/fhir+json')
        .set('Prefer', 'return=minimal')
        .send(JSON.stringify(bundle))
        .expect(200);

      const entries = res.body.entry as Array<{ response: { status: string; location: string } }>;
      expect(entries).toHaveLength(bundle.entry.length);
      expect(new Set(entries.map((e) => e.response.status))).toEqual(new Set(['201 Created']));
      const keys = entries.map((e) => {
        const [type, id] = new URL(e.response.location).pathname.split('/').slice(1, 3);
        return `${type}/${id}`;
      });
      const rows: Array<{ key: string; content: string; patient_ids: string[] }> = await db.query(
        `SELECT type || '/' || id AS key, content, patient_ids FROM resource
         WHERE type || '/' || id = ANY($1) AND superseded_at IS NULL`,
        [keys],
      );
      expect(rows).toHaveLength(bundle.entry.length);
      const patientKey =
        keys[bundle.entry.findIndex((e) => e.resource?.resourceType === 'Patient')];
      const patientId = patientKey.split('/')[1];
      for (const row of rows) {
        expect(row.content).not.toContain('"reference":"urn:uuid:');
        const type = row.key.split('/')[0];
        expect({ key: row.key, patientIds: row.patient_ids }).toEqual({
          key: row.key,
          patientIds: NOT_IN_PATIENT_COMPARTMENT.has(type) ? [] : [patientId],
        });
      }
    },
  );
});
