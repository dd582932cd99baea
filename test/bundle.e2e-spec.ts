import { DataSource } from 'typeorm';
import {
  batch,
  deleteEntry,
  getEntry,
  newId,
  observation,
  patient,
  postEntry,
  putEntry,
  transaction,
  urnUuid,
} from './support/factories';
import { api, useTestApp } from './support/test-app';

const FHIR_JSON = 'application/fhir+json';

interface Entry {
  fullUrl?: string;
  resource?: { resourceType: string; meta: { versionId: string }; gender?: string };
  response: {
    status: string;
    location?: string;
    etag?: string;
    lastModified?: string;
    outcome?: { issue: Array<{ diagnostics: string }> };
  };
}

describe('FHIR batch and transaction Bundles (POST [base])', () => {
  const t = useTestApp();

  const http = () => api(t.app);
  const postBundle = (bundle: unknown, headers: Record<string, string> = {}) =>
    http().post('/').set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(bundle));
  const countRows = async (): Promise<number> => {
    const [row] = await t.app.get(DataSource).query('SELECT count(*)::int AS n FROM resource');
    return (row as { n: number }).n;
  };
  const idOf = (location: string | undefined) =>
    /\/[A-Za-z]+\/([^/]+)\/_history\//.exec(location ?? '')![1];

  it('resolves urn:uuid references to the ids it assigns and records compartment membership', async () => {
    const patientUrl = urnUuid();
    const bundle = transaction([
      postEntry(observation(patientUrl)),
      postEntry(patient(), patientUrl),
    ]);

    const res = await postBundle(bundle).expect(200);

    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
    const [obsEntry, patientEntry] = res.body.entry as Entry[];
    expect(obsEntry.response.status).toBe('201 Created');
    expect(patientEntry.response.status).toBe('201 Created');
    expect(patientEntry.resource!.resourceType).toBe('Patient');
    expect(obsEntry.response.etag).toBe('W/"1"');
    expect(obsEntry.response.lastModified).toBe(patientEntry.response.lastModified);
    const patientId = idOf(patientEntry.response.location);
    const obsId = idOf(obsEntry.response.location);
    expect(patientEntry.fullUrl).toMatch(new RegExp(`/Patient/${patientId}$`));

    const read = await http().get(`/Observation/${obsId}`).expect(200);
    expect(read.body.subject.reference).toBe(`Patient/${patientId}`);
    const rows: Array<{ patient_ids: string[] }> = await t.app
      .get(DataSource)
      .query(`SELECT patient_ids FROM resource WHERE type = 'Observation' AND id = $1`, [obsId]);
    expect(rows).toEqual([{ patient_ids: [patientId] }]);
  });

  it('rewrites references at any depth: extensions, contained resources and arrays', async () => {
    const patientUrl = urnUuid();
    const practitionerUrl = urnUuid();
    const obs = observation(patientUrl, {
      extension: [
        { url: 'http://example.org/ext', valueReference: { reference: practitionerUrl } },
      ],
      performer: [{ reference: practitionerUrl }, { reference: '#p1' }],
      contained: [
        {
          resourceType: 'Provenance',
          id: 'p1',
          target: [{ reference: patientUrl }],
          recorded: '2024-01-01T00:00:00Z',
          agent: [{ who: { reference: practitionerUrl } }],
        },
      ],
    });
    const res = await postBundle(
      transaction([
        postEntry(obs),
        postEntry(patient(), patientUrl),
        postEntry({ resourceType: 'Practitioner', name: [{ family: 'Who' }] }, practitionerUrl),
      ]),
    ).expect(200);
    const [obsEntry, patientEntry, practitionerEntry] = res.body.entry as Entry[];
    const patientRef = `Patient/${idOf(patientEntry.response.location)}`;
    const practitionerRef = `Practitioner/${idOf(practitionerEntry.response.location)}`;

    const stored = (
      await http()
        .get(`/Observation/${idOf(obsEntry.response.location)}`)
        .expect(200)
    ).body;

    expect(stored.subject.reference).toBe(patientRef);
    expect(stored.extension[0].valueReference.reference).toBe(practitionerRef);
    expect(stored.performer).toEqual([{ reference: practitionerRef }, { reference: '#p1' }]);
    expect(stored.contained[0].target[0].reference).toBe(patientRef);
    expect(stored.contained[0].agent[0].who.reference).toBe(practitionerRef);
    expect(JSON.stringify(stored)).not.toContain('urn:uuid');
  });

  it('rolls everything back when a later entry fails, and names the entry and the reason', async () => {
    const existing = await http()
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient()))
      .expect(201);
    const before = await countRows();
    const patientUrl = urnUuid();
    const stale = { ...existing.body, gender: 'male' };

    // The creates run before the update (FHIR order), so the failure comes after writes.
    const res = await postBundle(
      transaction([
        postEntry(patient(), patientUrl),
        postEntry(observation(patientUrl)),
        putEntry(stale, 'W/"7"'),
      ]),
    ).expect(412);

    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[2\]: If-Match W\/"7"/);
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[2]']);
    expect(await countRows()).toBe(before);
    const current = await http().get(`/Patient/${existing.body.id}`).expect(200);
    expect(current.body.meta.versionId).toBe('1');
  });

  it.each([
    [
      'an entry whose resource does not match its url',
      () =>
        transaction([
          postEntry(patient()),
          { request: { method: 'POST', url: 'Observation' }, resource: patient() },
        ]),
      400,
      /^Bundle\.entry\[1\]: resourceType "Patient" does not match Observation/,
    ],
    [
      'a urn:uuid reference no entry has as fullUrl',
      () => transaction([postEntry(observation('urn:uuid:00000000-0000-4000-8000-000000000000'))]),
      400,
      /^Bundle\.entry\[0\]: reference urn:uuid:0{8}-.* does not match the fullUrl of any entry/,
    ],
    [
      'a conditional reference that searches by anything but identifier',
      () => transaction([postEntry(observation('Patient?name=Smith'))]),
      400,
      /^Bundle\.entry\[0\]: Conditional reference "name=Smith" is not supported yet/,
    ],
    [
      'a conditional reference that matches nothing',
      () =>
        transaction([
          postEntry(patient()),
          postEntry(observation(`Patient?identifier=urn:test:mrn|${newId()}`)),
        ]),
      404,
      /^Bundle\.entry\[1\]: conditional reference Patient\?identifier=urn:test:mrn\|.* matches no resource/,
    ],
    [
      'a conditional create that searches by anything but identifier',
      () =>
        transaction([
          {
            ...postEntry(patient()),
            request: { method: 'POST', url: 'Patient', ifNoneExist: 'family=Smith' },
          },
        ]),
      400,
      /^Bundle\.entry\[0\]: ifNoneExist "family=Smith" is not supported yet/,
    ],
    [
      'a conditional update',
      () =>
        transaction([
          { resource: patient(), request: { method: 'PUT', url: 'Patient?identifier=a|b' } },
        ]),
      400,
      /^Bundle\.entry\[0\]: conditional PUT \(Patient\?identifier=a\|b\) is not supported yet/,
    ],
    [
      'an unknown resource type',
      () => transaction([postEntry(patient()), { request: { method: 'GET', url: 'Patiant/1' } }]),
      404,
      /^Bundle\.entry\[1\]: Unknown resource type Patiant/,
    ],
    [
      'a PATCH',
      () => transaction([{ request: { method: 'PATCH', url: 'Patient/1' } }]),
      405,
      /^Bundle\.entry\[0\]: request\.method "PATCH" is not supported/,
    ],
    [
      'a read of a resource that does not exist',
      () => transaction([postEntry(patient()), getEntry(`Patient/${newId()}`)]),
      404,
      /^Bundle\.entry\[1\]: Patient\/.* is not known/,
    ],
    [
      'two entries changing the same resource',
      () => {
        const id = newId();
        return transaction([putEntry(patient({ id }) as never), deleteEntry('Patient', id)]);
      },
      400,
      /^Bundle\.entry\[1\]: Patient\/.* is already modified by entry\[0\]/,
    ],
    [
      'two entries with the same fullUrl',
      () => {
        const url = urnUuid();
        return transaction([postEntry(patient(), url), postEntry(patient(), url)]);
      },
      400,
      /^Bundle\.entry\[1\]: fullUrl urn:uuid:.* is also the fullUrl of entry\[0\]/,
    ],
  ])('refuses a transaction with %s and writes nothing', async (_what, build, status, message) => {
    const before = await countRows();
    const res = await postBundle(build()).expect(status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toMatch(message);
    expect(await countRows()).toBe(before);
  });

  it.each([
    [
      'a Bundle of type collection',
      { resourceType: 'Bundle', type: 'collection', entry: [] },
      'Bundle.type "collection" cannot be processed',
    ],
    ['a resource that is not a Bundle', patient(), 'takes a Bundle, got resourceType "Patient"'],
    [
      'entries that are not an array',
      { resourceType: 'Bundle', type: 'batch', entry: {} },
      'Bundle.entry must be an array',
    ],
  ])('answers 400 to %s', async (_what, body, message) => {
    const res = await postBundle(body).expect(400);
    expect(res.body.issue[0].diagnostics).toContain(message);
  });

  it('processes deletes, then creates, then updates, then reads, answering in request order', async () => {
    const kept = await http()
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient()))
      .expect(201);
    const gone = await http()
      .post('/Patient')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(patient()))
      .expect(201);
    const keptId = kept.body.id as string;

    const res = await postBundle(
      transaction([
        getEntry(`Patient/${keptId}`),
        putEntry({ ...kept.body, gender: 'male' }, 'W/"1"'),
        deleteEntry('Patient', gone.body.id),
        postEntry(patient()),
        getEntry(`Patient/${keptId}/_history/1`),
      ]),
    ).expect(200);

    const entries = res.body.entry as Entry[];
    expect(entries.map((e) => e.response.status)).toEqual([
      '200 OK',
      '200 OK',
      '204 No Content',
      '201 Created',
      '200 OK',
    ]);
    expect(entries[0].resource!.meta.versionId).toBe('2');
    expect(entries[0].resource!.gender).toBe('male');
    expect(entries[1].response.location).toMatch(new RegExp(`/Patient/${keptId}/_history/2$`));
    expect(entries[2].response.etag).toBe('W/"2"');
    expect(entries[4].resource!.meta.versionId).toBe('1');
    await http().get(`/Patient/${gone.body.id}`).expect(410);
  });

  it('leaves the resources out of the response under Prefer: return=minimal', async () => {
    const res = await postBundle(transaction([postEntry(patient())]), {
      Prefer: 'return=minimal',
    }).expect(200);
    const [entry] = res.body.entry as Entry[];
    expect(entry.resource).toBeUndefined();
    expect(entry.response.status).toBe('201 Created');
    expect(entry.response.location).toMatch(/\/Patient\/[0-9a-f-]{36}\/_history\/1$/);
  });

  it('runs batch entries independently: a failing entry gets its own status and outcome', async () => {
    const id = newId();
    const res = await postBundle(
      batch([
        postEntry(patient()),
        { request: { method: 'POST', url: 'Patient' }, resource: observation('Patient/x') },
        putEntry(patient({ id }) as never),
        getEntry(`Patient/${newId()}`),
        postEntry(observation(urnUuid())),
      ]),
    ).expect(200);

    expect(res.body.type).toBe('batch-response');
    const entries = res.body.entry as Entry[];
    expect(entries.map((e) => e.response.status)).toEqual([
      '201 Created',
      '400 Bad Request',
      '201 Created',
      '404 Not Found',
      '400 Bad Request',
    ]);
    expect(entries[1].response.outcome!.issue[0].diagnostics).toContain(
      'resourceType "Observation" does not match Patient',
    );
    expect(entries[4].response.outcome!.issue[0].diagnostics).toContain(
      'does not match the fullUrl',
    );
    await http()
      .get(`/Patient/${idOf(entries[0].response.location)}`)
      .expect(200);
    await http().get(`/Patient/${id}`).expect(200);
  });

  describe('conditional create and conditional references by identifier', () => {
    const NPI = 'http://hl7.org/fhir/sid/us-npi';
    const practitioner = (npi: string) => ({
      resourceType: 'Practitioner',
      identifier: [{ system: NPI, value: npi }],
      name: [{ family: `Doc${npi}` }],
    });
    const conditionalPost = (resource: Record<string, unknown>, ifNoneExist: string) => ({
      ...postEntry(resource as never),
      request: { method: 'POST', url: String(resource.resourceType), ifNoneExist },
    });
    const encounter = (patientRef: string, npi: string) => ({
      resourceType: 'Encounter',
      status: 'finished',
      class: { code: 'AMB' },
      subject: { reference: patientRef },
      participant: [{ individual: { reference: `Practitioner?identifier=${NPI}|${npi}` } }],
    });
    const practitionerRows = async (npi: string): Promise<string[]> =>
      (
        await t.app
          .get(DataSource)
          .query<Array<{ id: string }>>(
            `SELECT id FROM resource WHERE type = 'Practitioner' AND superseded_at IS NULL AND content LIKE $1`,
            [`%"value":"${npi}"%`],
          )
      ).map((r) => r.id);

    it('creates a Practitioner once and points later Bundles and references at it', async () => {
      const npi = String(Date.now()) + String(Math.floor(Math.random() * 1e6));
      const load = async () => {
        const patientUrl = urnUuid();
        const res = await postBundle(
          transaction([
            postEntry(patient(), patientUrl),
            postEntry(encounter(patientUrl, npi) as never),
            conditionalPost(practitioner(npi), `identifier=${NPI}|${npi}`),
          ]),
        ).expect(200);
        return res.body.entry as Entry[];
      };

      const first = await load();
      const second = await load();

      expect(first[2].response.status).toBe('201 Created');
      expect(second[2].response.status).toBe('200 OK');
      const ids = await practitionerRows(npi);
      expect(ids).toHaveLength(1);
      expect(idOf(second[2].response.location)).toBe(ids[0]);
      for (const entries of [first, second]) {
        const stored = await http()
          .get(`/Encounter/${idOf(entries[1].response.location)}`)
          .expect(200);
        expect(stored.body.participant[0].individual.reference).toBe(`Practitioner/${ids[0]}`);
      }
    });

    it('answers 412 when a conditional reference matches several resources', async () => {
      const npi = `dup-${newId()}`;
      for (let i = 0; i < 2; i++) {
        await http()
          .post('/Practitioner')
          .set('Content-Type', FHIR_JSON)
          .send(JSON.stringify(practitioner(npi)))
          .expect(201);
      }
      const before = await countRows();

      const res = await postBundle(
        transaction([postEntry(encounter(`Patient/${newId()}`, npi) as never)]),
      ).expect(412);

      expect(res.body.issue[0].diagnostics).toContain('matches 2 resources');
      expect(await countRows()).toBe(before);
    });

    it('answers If-None-Exist on POST with 201 the first time and 200 with the same resource after', async () => {
      const mrn = newId();
      const send = () =>
        http()
          .post('/Patient')
          .set('Content-Type', FHIR_JSON)
          .set('If-None-Exist', `identifier=urn:test:mrn|${mrn}`)
          .send(JSON.stringify(patient({ identifier: [{ system: 'urn:test:mrn', value: mrn }] })));

      const results = await Promise.all([send(), send(), send()]);

      expect(results.map((r) => r.status).sort()).toEqual([200, 200, 201]);
      expect(new Set(results.map((r) => r.body.id as string)).size).toBe(1);
      expect(new Set(results.map((r) => r.headers.location)).size).toBe(1);
    });
  });
});
