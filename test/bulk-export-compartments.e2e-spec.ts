import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import {
  downloadLines,
  expectOperationOutcome,
  exportManifest,
  Gate,
  idsByType,
  kickOff,
  kickOffResponse,
  KickoffOptions,
  Manifest,
  pollUntilDone,
  store,
  useExportApp,
  LENIENT,
  singleErrorOutcome,
} from './support/export-helpers';
import { group, observationOf, organization, patientWithId } from './support/export-factories';
import { readBundle, syntheaBundleFiles } from './support/factories';
import { FhirResource } from '../src/resources/resource.repository';
import { FhirDefinitions } from '../src/fhir/fhir-definitions.service';
import { GroupMembers } from '../src/bulk-export/read/group-members.service';
import { api } from './support/test-app';

/** `patient` parameters of a POST kick-off. */
function patientParameters(ids: string[], extra: object[] = []): KickoffOptions {
  return {
    method: 'POST',
    body: {
      resourceType: 'Parameters',
      parameter: [
        ...extra,
        ...ids.map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } })),
      ],
    },
  };
}

describe('$export Patient and Group semantics', () => {
  const t = useExportApp();

  const sortedIds = (...resources: FhirResource[]) => resources.map((r) => r.id as string).sort();

  it('reports a POST patient outside the Group in the error file as an OperationOutcome and exports only members', async () => {
    const [member, outsider] = [patientWithId(), patientWithId()];
    const observations = [observationOf(member.id as string), observationOf(outsider.id as string)];
    const g = group([{ reference: `Patient/${member.id}` }]);
    await store(t.app, [member, outsider, ...observations, g]);

    const { manifest } = await exportManifest(
      t.app,
      `/Group/${g.id}/$export`,
      patientParameters(
        [member.id as string, outsider.id as string],
        [{ name: '_type', valueString: 'Observation,Patient' }],
      ),
    );

    expect(await idsByType(t.app, manifest)).toEqual({
      Observation: sortedIds(observations[0]),
      Patient: sortedIds(member),
    });
    const outcome = await singleErrorOutcome(t.app, manifest);
    expect(outcome.issue[0].severity).toBe('error');
    expect(outcome.issue[0].diagnostics).toContain(`Patient/${outsider.id}`);
    expect(outcome.issue[0].diagnostics).toContain(`Group/${g.id}`);
  });

  it('evaluates member.period against transaction_time at the precision given: ended and not yet started members are left out', async () => {
    const [current, ended, future, open, thisYear] = [1, 2, 3, 4, 5].map(() => patientWithId());
    const year = String(new Date().getUTCFullYear());
    const g = group([]);
    g.member = [
      { entity: { reference: `Patient/${current.id}` }, period: { start: '2000-01-01' } },
      {
        entity: { reference: `Patient/${ended.id}` },
        period: { start: '2000-01-01', end: '2001-01-01T00:00:00Z' },
      },
      { entity: { reference: `Patient/${future.id}` }, period: { start: '2999-01-01' } },
      { entity: { reference: `Patient/${open.id}` }, period: { end: '2999-01-01' } },
      // A partial date spans its whole precision: the year is not over yet.
      { entity: { reference: `Patient/${thisYear.id}` }, period: { start: year, end: year } },
    ];
    await store(t.app, [current, ended, future, open, thisYear, g]);

    const { manifest } = await exportManifest(t.app, `/Group/${g.id}/$export`, {
      query: { _type: 'Patient' },
    });

    expect(await idsByType(t.app, manifest)).toEqual({
      Patient: sortedIds(current, open, thisYear),
    });
  });

  it('reads the Group as it was at transaction_time, not as changed while the export runs', async () => {
    const [before, after] = [patientWithId(), patientWithId()];
    const g = group([{ reference: `Patient/${before.id}` }]);
    const [storedGroup] = await store(t.app, [g, before, after]);

    const members = t.app.get(GroupMembers);
    const original = members.membership.bind(members);
    const reached = new Gate();
    const release = new Gate();
    jest.spyOn(members, 'membership').mockImplementation(async (id, at) => {
      reached.open();
      await release.opened;
      return original(id, at);
    });
    const statusPath = await kickOff(t.app, `/Group/${g.id}/$export?_type=Patient`);
    await reached.opened;
    await store(t.app, [
      { ...storedGroup, member: [{ entity: { reference: `Patient/${after.id}` } }] },
    ]);
    release.open();

    const res = await pollUntilDone(t.app, statusPath);
    expect(res.status).toBe(200);
    expect(await idsByType(t.app, res.body as Manifest)).toEqual({ Patient: sortedIds(before) });
  });

  it('reports in the manifest error file each active member that does not resolve, and exports the rest', async () => {
    const member = patientWithId();
    const g = group([
      { reference: `Patient/${member.id}` },
      { reference: 'urn:uuid:0f4f7a4e-8c1e-4f0e-9a53-6a9a3b1d2c3e' },
      { reference: 'Patient/no-such-patient' },
      { reference: 'Group/no-such-group' },
      { reference: 'Practitioner/a-doctor' },
      { reference: 'urn:uuid:11111111-2222-4333-8444-555555555555', inactive: true },
    ]);
    await store(t.app, [member, g]);

    const { manifest } = await exportManifest(t.app, `/Group/${g.id}/$export`, {
      query: { _type: 'Patient' },
    });

    expect(await idsByType(t.app, manifest)).toEqual({ Patient: sortedIds(member) });
    expect(manifest.error.map((e) => e.type)).toEqual(['OperationOutcome']);
    const issues = (await downloadLines(t.app, manifest.error[0].url)).map(
      (line) => (JSON.parse(line) as { issue: { code: string; diagnostics: string }[] }).issue[0],
    );
    // The inactive member and the Practitioner (not a Patient) are no one's concern.
    expect(issues.map((issue) => issue.code)).toEqual(['not-found', 'not-found', 'not-found']);
    expect(
      issues.map((issue) => /lists member "([^"]+)"/.exec(issue.diagnostics)?.[1]).sort(),
    ).toEqual([
      'Group/no-such-group',
      'Patient/no-such-patient',
      'urn:uuid:0f4f7a4e-8c1e-4f0e-9a53-6a9a3b1d2c3e',
    ]);
    for (const issue of issues) expect(issue.diagnostics).toContain(`Group/${g.id} lists member`);
  });

  it('expands nested Groups and stops at a cycle', async () => {
    const [a, b, c] = [patientWithId(), patientWithId(), patientWithId()];
    const first = group([]);
    const second = group([]);
    first.member = [
      { entity: { reference: `Patient/${a.id}` } },
      { entity: { reference: `Group/${second.id}` } },
    ];
    second.member = [
      { entity: { reference: `Patient/${b.id}` } },
      { entity: { reference: `Group/${first.id}` } },
      { entity: { reference: `Group/${second.id}` } },
    ];
    await store(t.app, [a, b, c, first, second]);

    const { manifest } = await exportManifest(t.app, `/Group/${first.id}/$export`, {
      query: { _type: 'Patient' },
    });

    expect(await idsByType(t.app, manifest)).toEqual({ Patient: sortedIds(a, b) });
  });

  it('leaves the exported Group and the Groups it nests out of the output', async () => {
    const p = patientWithId();
    const inner = group([{ reference: `Patient/${p.id}` }]);
    const outer = group([{ reference: `Group/${inner.id}` }]);
    await store(t.app, [p, inner, outer]);

    const { statusPath, manifest } = await exportManifest(t.app, `/Group/${outer.id}/$export`);

    expect(await idsByType(t.app, manifest)).toEqual({ Patient: sortedIds(p) });
    // What the export selected to page through goes when it completes; who it covered stays
    // with the job until it expires.
    const exportId = statusPath.split('/').pop();
    const kept = await t.app.get(DataSource).query<{ rows: string; members: string }[]>(
      `SELECT (SELECT count(*) FROM export_row WHERE job_id = $1) AS rows,
                (SELECT count(*) FROM export_selection WHERE job_id = $1) AS members`,
      [exportId],
    );
    expect(kept).toEqual([{ rows: '0', members: '3' }]);
  });

  it('exports nothing for a Group whose members are all inactive', async () => {
    const p = patientWithId();
    const g = group([{ reference: `Patient/${p.id}`, inactive: true }]);
    await store(t.app, [p, observationOf(p.id as string), g]);

    const { manifest } = await exportManifest(t.app, `/Group/${g.id}/$export`);

    expect(manifest.output).toEqual([]);
  });

  it('exports an Observation about two patients once, at Patient and at Group level', async () => {
    const [a, b] = [patientWithId(), patientWithId()];
    const shared = observationOf(a.id as string, { performer: [{ reference: `Patient/${b.id}` }] });
    const g = group([{ reference: `Patient/${a.id}` }, { reference: `Patient/${b.id}` }]);
    await store(t.app, [a, b, shared, g]);

    const patientLevel = await exportManifest(t.app, '/Patient/$export', {
      query: { _type: 'Observation' },
    });
    const groupLevel = await exportManifest(t.app, `/Group/${g.id}/$export`, {
      query: { _type: 'Observation' },
    });

    expect(await idsByType(t.app, patientLevel.manifest)).toEqual({
      Observation: sortedIds(shared),
    });
    expect(await idsByType(t.app, groupLevel.manifest)).toEqual({ Observation: sortedIds(shared) });
    expect(patientLevel.manifest.output[0].count).toBe(1);
  });

  it('refuses at Patient level a _type outside the Patient compartment, and skips it when lenient', async () => {
    const p = patientWithId();
    await store(t.app, [p, organization({ contact: [{ name: { text: String(p.id) } }] })]);

    const refused = await kickOffResponse(t.app, '/Patient/$export', {
      query: { _type: 'Organization,Patient' },
    });
    expectOperationOutcome(refused, 400, { expression: '_type', mentions: ['Organization'] });

    const lenient = await exportManifest(t.app, '/Patient/$export', {
      headers: LENIENT,
      query: { _type: 'Organization,Patient' },
    });
    expect(await idsByType(t.app, lenient.manifest)).toEqual({ Patient: sortedIds(p) });
    expect(lenient.manifest.error).toHaveLength(1);
  });

  it("filters _since at Patient level by each resource's own lastUpdated, not its patient's", async () => {
    const [p] = await store(t.app, [patientWithId()]);
    const [old] = await store(t.app, [observationOf(p.id as string)]);
    await sleep(5);
    const since = new Date().toISOString();
    await sleep(5);
    const [fresh] = await store(t.app, [observationOf(p.id as string)]);
    expect(String(old.meta?.lastUpdated) < since).toBe(true);

    const { manifest } = await exportManifest(t.app, '/Patient/$export', {
      query: { _since: since },
    });

    expect(await idsByType(t.app, manifest)).toEqual({ Observation: sortedIds(fresh) });
  });
});

const definitions = new FhirDefinitions();
const COMPARTMENT_TYPES = new Set([
  'Patient',
  ...definitions.patientCompartment.map((c) => c.resourceType),
]);
const [TARGET_BUNDLE, OTHER_BUNDLE] = [1, 0].map((i) => syntheaBundleFiles()[i]);
/** The compartment types the target patient's Synthea bundle holds. */
const SYNTHEA_COMPARTMENT_TYPES = [
  ...new Set(readBundle(TARGET_BUNDLE).entry.map((e) => e.resource?.resourceType as string)),
]
  .filter((type) => COMPARTMENT_TYPES.has(type))
  .sort();

describe('Patient compartment membership of Synthea data loaded through POST /', () => {
  const t = useExportApp({}, { reset: 'once' });
  let exported: Record<string, string[]>;
  /** type → ids of the stored resources that reference the target patient. */
  const referencing = new Map<string, string[]>();
  let targetPatientId: string;

  async function loadBundle(file: string): Promise<string> {
    const res = await api(t.app)
      .post('/')
      .set('Content-Type', 'application/fhir+json')
      .set('Prefer', 'return=minimal')
      .send(JSON.stringify(readBundle(file)))
      .expect(200);
    const locations = (res.body as { entry: { response: { location: string } }[] }).entry.map((e) =>
      new URL(e.response.location).pathname.split('/').slice(1, 3),
    );
    const patient = locations.find(([type]) => type === 'Patient');
    if (!patient) throw new Error(`no Patient in ${file}`);
    return patient[1];
  }

  beforeAll(async () => {
    targetPatientId = await loadBundle(TARGET_BUNDLE);
    await loadBundle(OTHER_BUNDLE);

    const rows = await t.app
      .get(DataSource)
      .query<{ type: string; id: string; content: string }[]>(
        'SELECT type, id, content FROM resource WHERE superseded_at IS NULL AND NOT deleted',
      );
    const reference = new RegExp(`"reference":"Patient/${targetPatientId}"`);
    for (const row of rows) {
      if (row.type === 'Patient' ? row.id !== targetPatientId : !reference.test(row.content)) {
        continue;
      }
      referencing.set(row.type, [...(referencing.get(row.type) ?? []), row.id].sort());
    }

    const { manifest } = await exportManifest(
      t.app,
      '/Patient/$export',
      patientParameters([targetPatientId]),
    );
    exported = await idsByType(t.app, manifest);
  });

  it('covers the compartment types of the fixtures, ImagingStudy and ExplanationOfBenefit among them', () => {
    expect(SYNTHEA_COMPARTMENT_TYPES).toEqual(
      expect.arrayContaining(['ImagingStudy', 'ExplanationOfBenefit', 'Claim', 'CareTeam']),
    );
  });

  it.each(SYNTHEA_COMPARTMENT_TYPES)(
    "exports every %s that references the patient (the patient itself for Patient) and none of the other patient's",
    (type) => {
      const expected = referencing.get(type) ?? [];
      expect(expected.length).toBeGreaterThan(0);
      expect(exported[type]).toEqual(expected);
    },
  );

  it('exports no type outside the compartment and nothing that does not reference the patient', () => {
    expect(Object.keys(exported).sort()).toEqual(SYNTHEA_COMPARTMENT_TYPES);
    expect(Object.keys(exported).sort()).toEqual([...referencing.keys()].sort());
  });
});
