import request from 'supertest';
import { DataSource } from 'typeorm';
import { newId, observation, patient, TestResource } from './support/factories';
import { api, useTestApp } from './support/test-app';

const FHIR_JSON = 'application/fhir+json';

describe('FHIR REST: create, read, update, delete, vread, history', () => {
  const t = useTestApp();

  const http = () => api(t.app);
  const post = (url: string, body: unknown) =>
    http().post(url).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
  const put = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    http().put(url).set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(body));

  async function createdPatient(): Promise<{ id: string; body: TestResource }> {
    const res = await post('/Patient', patient()).expect(201);
    return { id: res.body.id, body: res.body };
  }

  it('creates with a server-assigned id and answers 201 with Location, ETag and Last-Modified', async () => {
    const res = await post('/Patient', patient({ id: 'chosen-by-client' })).expect(201);

    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.meta.versionId).toBe('1');
    const requested = new URL((res.request as unknown as { url: string }).url);
    expect(res.headers.location).toBe(`http://${requested.host}/Patient/${res.body.id}/_history/1`);
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.headers['last-modified']).toBe(new Date(res.body.meta.lastUpdated).toUTCString());
  });

  it('serves the stored JSON bytes on read exactly as create returned them', async () => {
    const created = await post('/Patient', patient({ meta: { tag: [{ code: 'x' }] } })).expect(201);

    const read = await http().get(`/Patient/${created.body.id}`).expect(200);

    expect(read.text).toBe(created.text);
    expect(read.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(read.headers.etag).toBe('W/"1"');
    expect(read.body.meta.tag).toEqual([{ code: 'x' }]);
  });

  it('answers 404 OperationOutcome for an id that was never written', async () => {
    const res = await http().get(`/Patient/${newId()}`).expect(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('not-found');
  });

  it('takes the base URL from X-Forwarded-Proto and X-Forwarded-Host', async () => {
    const res = await post('/Patient', patient())
      .set('X-Forwarded-Proto', 'https')
      .set('X-Forwarded-Host', 'fhir.example.org')
      .expect(201);
    expect(res.headers.location).toBe(`https://fhir.example.org/Patient/${res.body.id}/_history/1`);
  });

  it('answers Prefer: return=minimal with headers only and return=OperationOutcome with an outcome', async () => {
    const minimal = await post('/Patient', patient()).set('Prefer', 'return=minimal').expect(201);
    expect(minimal.text).toBe('');
    expect(minimal.headers.location).toMatch(/\/Patient\/[0-9a-f-]{36}\/_history\/1$/);

    const outcome = await post('/Patient', patient())
      .set('Prefer', 'return=OperationOutcome')
      .expect(201);
    expect(outcome.body.resourceType).toBe('OperationOutcome');
    expect(outcome.body.issue[0].severity).toBe('information');
  });

  it('increments meta.versionId on every update and keeps each old version readable by vread', async () => {
    const { id, body } = await createdPatient();

    const second = await put(`/Patient/${id}`, { ...body, gender: 'male' }).expect(200);
    const third = await put(`/Patient/${id}`, { ...body, gender: 'other' }).expect(200);

    expect(second.body.meta.versionId).toBe('2');
    expect(third.body.meta.versionId).toBe('3');
    expect(third.headers.etag).toBe('W/"3"');
    expect(third.headers.location).toMatch(new RegExp(`/Patient/${id}/_history/3$`));
    const v1 = await http().get(`/Patient/${id}/_history/1`).expect(200);
    const v2 = await http().get(`/Patient/${id}/_history/2`).expect(200);
    expect(v1.body.gender).toBe('female');
    expect(v2.text).toBe(second.text);
    expect((await http().get(`/Patient/${id}`).expect(200)).body.gender).toBe('other');
    await http().get(`/Patient/${id}/_history/4`).expect(404);
  });

  it('creates the resource under the client id when PUT names an unknown id (201)', async () => {
    const id = newId('put');
    const res = await put(`/Patient/${id}`, patient({ id })).expect(201);
    expect(res.body.id).toBe(id);
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.location).toMatch(new RegExp(`/Patient/${id}/_history/1$`));
  });

  it('lists history newest first with request and response on each entry', async () => {
    const { id, body } = await createdPatient();
    await put(`/Patient/${id}`, { ...body, gender: 'male' }).expect(200);
    await http().delete(`/Patient/${id}`).expect(204);
    await put(`/Patient/${id}`, { ...body, gender: 'unknown' }).expect(201);

    const res = await http().get(`/Patient/${id}/_history`).expect(200);

    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'history', total: 4 });
    const entries = res.body.entry as Array<{
      fullUrl: string;
      request: { method: string };
      response: { status: string; etag: string };
      resource?: { gender: string; meta: { versionId: string } };
    }>;
    expect(entries.map((e) => e.response.etag)).toEqual(['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']);
    expect(entries.map((e) => `${e.request.method} ${e.response.status}`)).toEqual([
      'PUT 201 Created',
      'DELETE 204 No Content',
      'PUT 200 OK',
      'POST 201 Created',
    ]);
    expect(entries[1].resource).toBeUndefined();
    expect(entries[0].resource?.gender).toBe('unknown');
    expect(entries[3].resource?.meta.versionId).toBe('1');
    expect(entries[0].fullUrl).toMatch(new RegExp(`/Patient/${id}$`));
  });

  it('pages history by _count with next links until the first version', async () => {
    const { id, body } = await createdPatient();
    for (const gender of ['male', 'other', 'unknown', 'female']) {
      await put(`/Patient/${id}`, { ...body, gender }).expect(200);
    }

    const pages: string[][] = [];
    let url: string | undefined = `/Patient/${id}/_history?_count=2`;
    while (url) {
      const res: request.Response = await http().get(url).expect(200);
      pages.push(
        (res.body.entry as Array<{ response: { etag: string } }>).map((e) => e.response.etag),
      );
      const next: { url: string } | undefined = (
        res.body.link as Array<{ relation: string; url: string }>
      ).find((l) => l.relation === 'next');
      url = next ? new URL(next.url).pathname + new URL(next.url).search : undefined;
    }

    expect(pages).toEqual([['W/"5"', 'W/"4"'], ['W/"3"', 'W/"2"'], ['W/"1"']]);
  });

  it('answers 410 after delete, for read and for vread of the deletion version', async () => {
    const { id } = await createdPatient();

    const deleted = await http().delete(`/Patient/${id}`).expect(204);

    expect(deleted.headers.etag).toBe('W/"2"');
    const read = await http().get(`/Patient/${id}`).expect(410);
    expect(read.body.resourceType).toBe('OperationOutcome');
    expect(read.body.issue[0].code).toBe('deleted');
    expect(read.headers.etag).toBe('W/"2"');
    await http().get(`/Patient/${id}/_history/2`).expect(410);
    await http().get(`/Patient/${id}/_history/1`).expect(200);
  });

  it('answers 204 to DELETE whether or not there is anything to delete, without writing a version', async () => {
    const { id } = await createdPatient();
    await http().delete(`/Patient/${id}`).expect(204);

    const again = await http().delete(`/Patient/${id}`).expect(204);
    await http().delete(`/Patient/${newId()}`).expect(204);

    expect(again.headers.etag).toBeUndefined();
    const history = await http().get(`/Patient/${id}/_history`).expect(200);
    expect(history.body.total).toBe(2);
  });

  it('re-creates a deleted resource on PUT as its next version (201)', async () => {
    const { id, body } = await createdPatient();
    await http().delete(`/Patient/${id}`).expect(204);

    const res = await put(`/Patient/${id}`, body).expect(201);

    expect(res.body.meta.versionId).toBe('3');
    expect((await http().get(`/Patient/${id}`).expect(200)).body.meta.versionId).toBe('3');
  });

  it('applies If-Match: 412 when it names an old version, the update when it names the current one', async () => {
    const { id, body } = await createdPatient();
    await put(`/Patient/${id}`, body).expect(200);

    const stale = await put(`/Patient/${id}`, body, { 'If-Match': 'W/"1"' }).expect(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    expect(stale.body.issue[0].diagnostics).toContain('W/"2"');
    await put(`/Patient/${id}`, body, { 'If-Match': 'W/"2"' }).expect(200);
    await http().delete(`/Patient/${id}`).set('If-Match', 'W/"2"').expect(412);
    await http().delete(`/Patient/${id}`).set('If-Match', 'W/"3"').expect(204);
    const id2 = newId();
    const missing = await put(`/Patient/${id2}`, patient({ id: id2 }), { 'If-Match': 'W/"1"' });
    expect(missing.status).toBe(412);
    await http().get(`/Patient/${id2}`).expect(404);
  });

  it('lets exactly one of several concurrent PUTs with the same If-Match through; the rest get 412', async () => {
    const { id, body } = await createdPatient();

    const results = await Promise.all(
      ['male', 'other', 'unknown', 'female'].map((gender) =>
        put(`/Patient/${id}`, { ...body, gender }, { 'If-Match': 'W/"1"' }),
      ),
    );

    expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412, 412]);
    const current = await http().get(`/Patient/${id}`).expect(200);
    expect(current.body.meta.versionId).toBe('2');
    const winner = results.find((r) => r.status === 200)!;
    expect(current.text).toBe(winner.text);
  });

  it('records Patient compartment membership of what it stores', async () => {
    const { id: patientId } = await createdPatient();

    const obs = await post('/Observation', observation(`Patient/${patientId}`)).expect(201);

    const rows: Array<{ patient_ids: string[]; content: string }> = await t.app
      .get(DataSource)
      .query(`SELECT patient_ids, content FROM resource WHERE type = 'Observation' AND id = $1`, [
        obs.body.id,
      ]);
    expect(rows).toHaveLength(1);
    expect(rows[0].patient_ids).toEqual([patientId]);
    expect(rows[0].content).toBe(obs.text);
  });
});

describe('FHIR REST with PUBLIC_BASE_URL', () => {
  const t = useTestApp({ PUBLIC_BASE_URL: 'https://public.example.com/fhir/' });

  it('builds Location from the configured base URL whatever the request says', async () => {
    const res = await api(t.app)
      .post('/Patient')
      .set('Content-Type', 'application/json')
      .set('X-Forwarded-Host', 'other.example.org')
      .send(JSON.stringify(patient()))
      .expect(201);
    expect(res.headers.location).toBe(
      `https://public.example.com/fhir/Patient/${res.body.id}/_history/1`,
    );
  });
});
