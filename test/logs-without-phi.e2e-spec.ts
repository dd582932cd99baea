import request from 'supertest';
import { DataSource } from 'typeorm';
import { eventually, KICKOFF_HEADERS } from './support/export-helpers';
import { freePort } from './support/private-services';
import { bearerOf, useTestApp } from './support/test-app';
import { killAllWorkers, spawnApi } from './support/worker-process';

/**
 * What an API process writes to its log at LOG_LEVEL=info, read from a real server process:
 * request lines, audit lines, errors. Search and kick-off parameters carry patient data, so
 * none of it may appear.
 */
describe('the log of an API process', () => {
  // Registers the test client and mints its token; the spawned API shares database and key.
  const t = useTestApp({ ROLE: 'api' });

  afterAll(() => killAllWorkers());

  it('names requests by path and audits exports without the patient data in their parameters', async () => {
    const api = spawnApi(await freePort(), { LOG_LEVEL: 'info' });
    await api.ready;
    const bearer = bearerOf(t.app);
    const secret = 'Zebediah-Quuxworth';

    const search = await request(api.url)
      .get(`/Patient?name=${secret}&birthdate=1961-04-12`)
      .set('Authorization', bearer);
    expect(search.status).toBe(200);
    const kickoff = await request(api.url)
      .get(`/$export?_type=Patient&_typeFilter=Patient%3Fname%3D${secret}`)
      .set(KICKOFF_HEADERS)
      .set('Authorization', bearer);
    expect(kickoff.status).toBe(202);
    const refused = await request(api.url).get(`/Patient?name=${secret}`);
    expect(refused.status).toBe(401);

    // The audit event is written (and logged) once the kick-off's response has gone out.
    const exportId = String(kickoff.headers['content-location']).split('/').pop();
    await eventually(async () => {
      const rows = await t.app
        .get(DataSource)
        .query<unknown[]>(`SELECT 1 FROM audit_event WHERE export_id = $1`, [exportId]);
      return rows.length > 0;
    }, 'the kick-off to be audited');
    // A graceful stop flushes the log.
    api.signal('SIGTERM');
    await api.exited;
    const log = api.output();
    expect(log).toContain('"path":"/Patient"');
    expect(log).toContain('"action":"export.kickoff"');
    expect(log).not.toContain(secret);
    expect(log).not.toContain('1961-04-12');
    expect(log).not.toContain(bearer.slice('Bearer '.length));
  });
});
