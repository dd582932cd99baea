import {
  currentContentByType,
  downloadLines,
  exportedLines,
  exportManifest,
  KickoffOptions,
  Manifest,
  store,
  useExportApp,
} from './support/export-helpers';
import { group, observationOf, organization, patientWithId } from './support/export-factories';
import { FhirResource } from '../src/resources/resource.repository';

/** Exactly as the Bulk Data IG writes it: strict clients compare the whole coding. */
const SUBSETTED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
};

describe('$export with _elements', () => {
  const t = useExportApp();
  let patient: FhirResource;
  let observation: FhirResource;
  let org: FhirResource;

  beforeEach(async () => {
    const p = patientWithId();
    [patient, observation, org] = await store(t.app, [
      { ...p, managingOrganization: { display: 'x' } },
      observationOf(p.id as string, { note: [{ text: 'a note' }] }),
      organization(),
    ]);
  });

  /** Every exported resource of each type, parsed. */
  async function exported(manifest: Manifest): Promise<Map<string, FhirResource[]>> {
    const byType = new Map<string, FhirResource[]>();
    for (const [type, lines] of await exportedLines(t.app, manifest)) {
      byType.set(
        type,
        lines.map((l) => JSON.parse(l) as FhirResource),
      );
    }
    return byType;
  }

  async function run(path: string, options: KickoffOptions) {
    const { manifest } = await exportManifest(t.app, path, options);
    expect(manifest.error).toEqual([]);
    return exported(manifest);
  }

  function parametersBody(elements: string[]) {
    return {
      resourceType: 'Parameters',
      parameter: elements.map((e) => ({ name: '_elements', valueString: e })),
    };
  }

  it('keeps per type the named elements, id, meta and mandatory elements, tags them SUBSETTED, and exports types it does not name whole', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: {
        _type: 'Observation,Organization,Patient',
        _elements: 'Observation.value,Patient.gender',
      },
    });
    const byType = await exported(manifest);

    const [obs] = byType.get('Observation') ?? [];
    expect(Object.keys(obs).sort()).toEqual(
      ['resourceType', 'id', 'meta', 'status', 'code', 'valueQuantity'].sort(),
    );
    expect(obs.valueQuantity).toEqual(observation.valueQuantity);
    expect(obs.meta).toEqual({ ...observation.meta, tag: [SUBSETTED] });

    const [pat] = byType.get('Patient') ?? [];
    expect(pat).toEqual({
      resourceType: 'Patient',
      id: patient.id,
      meta: { ...patient.meta, tag: [SUBSETTED] },
      gender: patient.gender,
    });

    // Organization is not named: exported byte for byte as stored.
    const organizationFile = manifest.output.find((o) => o.type === 'Organization');
    expect(await downloadLines(t.app, organizationFile?.url ?? '')).toEqual(
      (await currentContentByType(t.app)).get('Organization'),
    );
    expect(byType.get('Organization')).toEqual([org]);
  });

  it('applies a bare element to every type, also when repeated in the query string', async () => {
    const byType = await run('/$export', {
      query: { _type: 'Observation,Organization,Patient', _elements: ['subject', 'Patient.name'] },
    });

    const [obs] = byType.get('Observation') ?? [];
    expect(obs.subject).toEqual(observation.subject);
    expect(obs).not.toHaveProperty('note');
    expect(obs).not.toHaveProperty('valueQuantity');
    const [pat] = byType.get('Patient') ?? [];
    expect(Object.keys(pat)).toEqual(['resourceType', 'id', 'meta', 'name']);
    const [o] = byType.get('Organization') ?? [];
    expect(o).toEqual({
      resourceType: 'Organization',
      id: org.id,
      meta: { ...org.meta, tag: [SUBSETTED] },
    });
  });

  it('subsets a POST Patient-level export given as repeated valueString parameters', async () => {
    const byType = await run('/Patient/$export', {
      method: 'POST',
      body: parametersBody(['Patient.birthDate', 'Observation.note']),
    });

    expect(byType.get('Patient')).toEqual([
      {
        resourceType: 'Patient',
        id: patient.id,
        meta: { ...patient.meta, tag: [SUBSETTED] },
        birthDate: patient.birthDate,
      },
    ]);
    const [obs] = byType.get('Observation') ?? [];
    expect(obs.note).toEqual([{ text: 'a note' }]);
    expect(obs).not.toHaveProperty('subject');
  });

  it('subsets a Group-level export, GET and POST alike', async () => {
    const [g] = await store(t.app, [group([{ reference: `Patient/${patient.id}` }])]);
    const path = `/Group/${g.id}/$export`;
    const viaGet = await run(path, { query: { _type: 'Patient', _elements: 'gender' } });
    const viaPost = await run(path, {
      method: 'POST',
      body: {
        ...parametersBody(['gender']),
        parameter: [
          { name: '_type', valueString: 'Patient' },
          { name: '_elements', valueString: 'gender' },
        ],
      },
    });

    const expected = {
      resourceType: 'Patient',
      id: patient.id,
      meta: { ...patient.meta, tag: [SUBSETTED] },
      gender: patient.gender,
    };
    expect(viaGet.get('Patient')).toEqual([expected]);
    expect(viaPost.get('Patient')).toEqual([expected]);
  });

  it('leaves a resource that has nothing outside the selection complete and untagged', async () => {
    const [bare] = await store(t.app, [{ resourceType: 'Organization', active: true }]);
    const byType = await run('/$export', { query: { _type: 'Organization', _elements: 'active' } });

    const exportedBare = byType.get('Organization')?.find((o) => o.id === bare.id);
    expect(exportedBare).toEqual(bare);
    const other = byType.get('Organization')?.find((o) => o.id === org.id);
    expect(other?.meta?.tag).toEqual([SUBSETTED]);
  });
});
