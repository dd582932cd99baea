import { randomUUID } from 'node:crypto';
import {
  ExportReadRepository,
  ProvenancePageQuery,
} from '../src/bulk-export/read/export-read.repository';
import { FhirResource } from '../src/resources/resource.repository';
import {
  downloadLines,
  expectOperationOutcome,
  exportManifest,
  Gate,
  idsOfLines,
  idsOfType,
  kickOff,
  kickOffResponse,
  LENIENT,
  linesOfType,
  Manifest,
  pollUntilDone,
  store,
  useExportApp,
} from './support/export-helpers';
import { group, observationOf, organization, patientWithId } from './support/export-factories';
import { newId } from './support/factories';
import { TestApp } from './support/test-app';

const LATEST = 'LatestProvenanceResources';
const RELEVANT = 'RelevantProvenanceResources';

/** A Provenance whose `target` names the given `Type/id` references. */
function provenance(targets: string[], id = newId('prov')): FhirResource {
  return {
    resourceType: 'Provenance',
    id,
    target: targets.map((reference) => ({ reference })),
    recorded: '2024-01-01T00:00:00Z',
    agent: [{ who: { display: `agent ${randomUUID()}` } }],
  };
}

const ref = (r: FhirResource) => `${r.resourceType}/${r.id as string}`;

/**
 * Stores each list in its own transaction, a few milliseconds apart, so that each list gets a
 * lastUpdated strictly later than the one before (the write clock has millisecond precision).
 */
async function storeInTurn(t: TestApp, ...batches: FhirResource[][]): Promise<void> {
  for (const batch of batches) {
    await store(t.app, batch);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('$export includeAssociatedData (Provenance) and Group exclusion', () => {
  // Pages of two, so that every selection here spans several keyset pages.
  const t = useExportApp({ EXPORT_PAGE_SIZE: '2' });

  describe('Latest and Relevant', () => {
    const p = patientWithId();
    const [o1, o2, o3] = [1, 2, 3].map(() => observationOf(p.id as string));
    const org = organization();
    // In time order: A names O1 and O2, then B names O1, F names O2, C and D (one
    // transaction) name O3, and E names only the Organization.
    const a = provenance([ref(o1), ref(o2)], 'prov-a');
    const b = provenance([ref(o1)], 'prov-b');
    const f = provenance([ref(o2)], 'prov-f');
    const c = provenance([ref(o3)], 'prov-c');
    const d = provenance([ref(o3)], 'prov-d');
    const e = provenance([ref(org)], 'prov-e');

    beforeEach(async () => {
      await storeInTurn(t, [p, o1, o2, o3, org], [a], [b], [f], [c, d], [e]);
    });

    it('Latest writes, per exported resource, the Provenance with the greatest lastUpdated, ties included', async () => {
      const { manifest } = await exportManifest(t.app, '/$export', {
        query: { _type: 'Observation', includeAssociatedData: LATEST },
      });
      // A is older than B (for O1) and than F (for O2); C and D share O3's greatest lastUpdated.
      expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual([
        'prov-b',
        'prov-c',
        'prov-d',
        'prov-f',
      ]);
      expect(manifest.output.find((o) => o.type === 'Provenance')?.url).toMatch(
        /Provenance-1\.ndjson$/,
      );
      expect(manifest.output.filter((o) => o.type === 'Observation').length).toBeGreaterThan(0);
    });

    it('Relevant writes every Provenance targeting an exported resource, and none for a type not exported', async () => {
      const { manifest } = await exportManifest(t.app, '/$export', {
        query: { _type: 'Observation', includeAssociatedData: RELEVANT },
      });
      expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual([
        'prov-a',
        'prov-b',
        'prov-c',
        'prov-d',
        'prov-f',
      ]);
    });

    it('Relevant wins when both codes are given', async () => {
      const { manifest } = await exportManifest(t.app, '/$export', {
        query: { _type: 'Observation', includeAssociatedData: `${LATEST},${RELEVANT}` },
      });
      expect(await idsOfType(t.app, manifest, 'Provenance')).toContain('prov-a');
    });

    it('adds the Provenance of the Organization once Organization is exported too', async () => {
      const { manifest } = await exportManifest(t.app, '/$export', {
        query: { _type: 'Observation,Organization', includeAssociatedData: LATEST },
      });
      expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual([
        'prov-b',
        'prov-c',
        'prov-d',
        'prov-e',
        'prov-f',
      ]);
    });

    it('leaves out the Provenance of a resource a _typeFilter leaves out', async () => {
      await store(t.app, [{ ...o3, status: 'amended' }]);
      const { manifest } = await exportManifest(t.app, '/$export', {
        query: {
          _type: 'Observation',
          _typeFilter: 'Observation?status=final',
          includeAssociatedData: RELEVANT,
        },
      });
      expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(
        [o1.id, o2.id].map(String).sort(),
      );
      expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual([
        'prov-a',
        'prov-b',
        'prov-f',
      ]);
    });
  });

  it('leaves out a Provenance whose only target belongs to a patient outside the Group', async () => {
    const [p1, p2] = [patientWithId(), patientWithId()];
    const [o1, o2] = [observationOf(p1.id as string), observationOf(p2.id as string)];
    const g = group([{ reference: ref(p1) }]);
    await store(t.app, [p1, p2, o1, o2, g]);
    await store(t.app, [provenance([ref(o1)], 'prov-in'), provenance([ref(o2)], 'prov-out')]);
    const { manifest } = await exportManifest(t.app, `/Group/${g.id as string}/$export`, {
      query: { _type: 'Observation', includeAssociatedData: RELEVANT },
    });
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual([o1.id]);
    expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual(['prov-in']);
  });

  it('writes a Provenance once when it is both in a patient compartment and associated with an exported resource', async () => {
    const p = patientWithId();
    const o = observationOf(p.id as string);
    const org = organization();
    await storeInTurn(
      t,
      [p, o, org],
      // In P's compartment (names P) and associated with O.
      [provenance([ref(p), ref(o)], 'prov-both')],
      // Only associated with O.
      [provenance([ref(o)], 'prov-associated')],
      // Neither: not in a compartment, not naming an exported resource.
      [provenance([ref(org)], 'prov-neither')],
    );
    const { manifest } = await exportManifest(t.app, '/Patient/$export', {
      query: { _type: 'Observation,Patient,Provenance', includeAssociatedData: RELEVANT },
    });
    const lines = await linesOfType(t.app, manifest, 'Provenance');
    expect(idsOfLines(lines).sort()).toEqual(['prov-associated', 'prov-both']);

    // Latest: O's newest Provenance is prov-associated; prov-both still comes as a type.
    const latest = await exportManifest(t.app, '/Patient/$export', {
      query: { _type: 'Observation,Patient,Provenance', includeAssociatedData: LATEST },
    });
    expect(await idsOfType(t.app, latest.manifest, 'Provenance')).toEqual([
      'prov-associated',
      'prov-both',
    ]);
  });

  it('pages associated Provenance across several keyset pages, each once', async () => {
    const p = patientWithId();
    const observations = Array.from({ length: 7 }, () => observationOf(p.id as string));
    const provenances = observations.map((o) => provenance([ref(o)]));
    // Interleaved with Provenance of nothing exported, so pages must skip rows.
    const others = observations.map(() => provenance([ref(organization())]));
    await store(t.app, [p, ...observations]);
    await store(
      t.app,
      provenances.flatMap((prov, i) => [others[i], prov]),
    );
    const repo = t.app.get(ExportReadRepository);
    const pages = jest.spyOn(repo, 'provenancePage');
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: { _type: 'Observation', includeAssociatedData: LATEST },
    });
    expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual(
      provenances.map((x) => x.id as string).sort(),
    );
    // Seven rows in pages of two: three full pages, then a short one that ends the type (no
    // empty page is read after it). Each page is read once, every cursor past the last.
    expect(pages).toHaveBeenCalledTimes(4);
    const cursors = pages.mock.calls.map(([q]) => BigInt(q.afterSeq));
    expect(cursors[0]).toBe(0n);
    cursors.slice(1).forEach((cursor, i) => expect(cursor).toBeGreaterThan(cursors[i]));
    const sizes = await Promise.all(
      pages.mock.results.map(async (r) => ((await r.value) as unknown[]).length),
    );
    expect(sizes).toEqual([2, 2, 2, 1]);
  });

  it('exports each Provenance as it was at transaction_time, whatever changes while the export runs', async () => {
    const p = patientWithId();
    const [o1, o2] = [observationOf(p.id as string), observationOf(p.id as string)];
    const kept = provenance([ref(o1)], 'prov-kept');
    const moved = provenance([ref(o1)], 'prov-moved');
    await storeInTurn(t, [p, o1, o2], [kept], [moved]);

    const repo = t.app.get(ExportReadRepository);
    const original = repo.provenancePage.bind(repo);
    const reached = new Gate();
    const release = new Gate();
    jest.spyOn(repo, 'provenancePage').mockImplementation(async (q: ProvenancePageQuery) => {
      reached.open();
      await release.opened;
      return original(q);
    });

    const statusPath = await kickOff(t.app, '/$export', {
      query: { _type: 'Observation', includeAssociatedData: LATEST },
    });
    await reached.opened;
    // After transaction_time: prov-moved now names O2 instead, and a newer one names O1.
    await store(t.app, [{ ...moved, target: [{ reference: ref(o2) }] }]);
    await store(t.app, [provenance([ref(o1)], 'prov-later')]);
    release.open();

    const res = await pollUntilDone(t.app, statusPath);
    expect(res.status).toBe(200);
    const lines = await linesOfType(t.app, res.body as Manifest, 'Provenance');
    // As of T, prov-moved (version 1) is O1's newest; prov-later did not exist.
    expect(idsOfLines(lines)).toEqual(['prov-moved']);
    expect((JSON.parse(lines[0]) as { meta: { versionId: string } }).meta.versionId).toBe('1');
    expect(lines[0]).toContain(ref(o1));
  });

  describe('_custom values', () => {
    it('refuses a _custom value under strict handling, naming it', async () => {
      const res = await kickOffResponse(t.app, '/$export', {
        query: { includeAssociatedData: `${LATEST},_customAudit` },
      });
      expectOperationOutcome(res, 400, {
        expression: 'includeAssociatedData',
        mentions: ['_customAudit', 'not supported'],
      });
    });

    it('drops a _custom value under lenient handling, applies the rest, and warns in the error file', async () => {
      const p = patientWithId();
      const o = observationOf(p.id as string);
      await store(t.app, [p, o]);
      await store(t.app, [provenance([ref(o)], 'prov-o')]);
      const { manifest } = await exportManifest(t.app, '/$export', {
        headers: LENIENT,
        query: { _type: 'Observation', includeAssociatedData: `${LATEST},_customAudit` },
      });
      expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual(['prov-o']);
      expect(manifest.error).toHaveLength(1);
      const [warning] = await downloadLines(t.app, manifest.error[0].url);
      expect(warning).toContain('_customAudit');
    });
  });

  describe('Group-level export', () => {
    it('leaves out the exported Group and its nested Groups, but not another Group listing a member', async () => {
      const [p1, p2] = [patientWithId(), patientWithId()];
      const nested = group([{ reference: ref(p2) }]);
      const exported = group([{ reference: ref(p1) }, { reference: ref(nested) }]);
      const other = group([{ reference: ref(p1) }]);
      await store(t.app, [p1, p2, nested, exported, other]);

      const { manifest } = await exportManifest(t.app, `/Group/${exported.id as string}/$export`);
      expect(await idsOfType(t.app, manifest, 'Patient')).toEqual(
        [p1.id, p2.id].map(String).sort(),
      );
      expect(await idsOfType(t.app, manifest, 'Group')).toEqual([other.id]);
    });

    it('writes no Provenance of the exported Group, which is not exported', async () => {
      const p = patientWithId();
      const exported = group([{ reference: ref(p) }]);
      await store(t.app, [p, exported]);
      await store(t.app, [
        provenance([ref(exported)], 'prov-group'),
        provenance([ref(p)], 'prov-patient'),
      ]);
      const { manifest } = await exportManifest(t.app, `/Group/${exported.id as string}/$export`, {
        query: { _type: 'Group,Patient', includeAssociatedData: RELEVANT },
      });
      expect(manifest.output.some((o) => o.type === 'Group')).toBe(false);
      expect(await idsOfType(t.app, manifest, 'Provenance')).toEqual(['prov-patient']);
    });
  });
});
