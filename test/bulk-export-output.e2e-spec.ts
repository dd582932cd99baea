import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listBlobNames, readText, testBlobService } from './support/azurite';
import {
  currentContentByType,
  downloadLines,
  downloadRaw,
  exportIdOf,
  exportManifest,
  idsOfLines,
  idsOfType,
  jobRow,
  linesOfType,
  ndjsonLines,
  store,
  useExportApp,
} from './support/export-helpers';
import {
  group,
  observationOf,
  organization,
  patientsWithObservations,
  patientWithId,
  syntheaResources,
} from './support/export-factories';
import { FhirResource, ResourceRepository } from '../src/resources/resource.repository';

const FHIR_NDJSON = 'application/fhir+ndjson';

/** `20261126T040500`, as the folder and container names use it. */
function compact(instant: string): string {
  return instant.replace(/\.\d{3}Z$/, '').replace(/[-:]/g, '');
}

async function blobText(container: string, name: string): Promise<string> {
  const download = await testBlobService()
    .getContainerClient(container)
    .getBlobClient(name)
    .download();
  return readText(download.readableStreamBody as NodeJS.ReadableStream);
}

function idsOf(resources: FhirResource[], type: string): string[] {
  return resources
    .filter((r) => r.resourceType === type)
    .map((r) => r.id as string)
    .sort();
}

describe('$export output (Azure Blob Storage, proxied downloads)', () => {
  const t = useExportApp();

  it('exports exactly the current database content per type, byte for byte, read back from Azurite', async () => {
    await store(t.app, syntheaResources(0));
    // Shares Organizations and Practitioners with the first bundle: their older versions must not appear.
    await store(t.app, syntheaResources(1));
    const deletedObservation = syntheaResources(1).find((r) => r.resourceType === 'Observation')!;
    await t.app
      .get(ResourceRepository)
      .inTransaction((s) => s.delete('Observation', deletedObservation.id as string));

    const { statusPath, manifest } = await exportManifest(t.app, '/$export');
    const expected = await currentContentByType(t.app);
    expect(manifest.output.map((o) => o.type)).toEqual([...expected.keys()].sort());

    const { location } = await jobRow(t.app, exportIdOf(statusPath));
    for (const [type, contents] of expected) {
      const entries = manifest.output.filter((o) => o.type === type);
      expect(entries).toHaveLength(1);
      const text = await blobText(location.container, `${location.prefix}${type}-1.ndjson`);
      expect(text).toBe(contents.map((c) => c + '\n').join(''));
      expect(entries[0].count).toBe(contents.length);
    }
    const observations = expected.get('Observation') ?? [];
    expect(observations.some((c) => c.includes(deletedObservation.id as string))).toBe(false);
    expect(observations.length).toBeGreaterThan(100);
  });

  it('answers the manifest with transactionTime, the kick-off URL as received, and an empty error array', async () => {
    await store(t.app, [patientWithId()]);
    const path = '/$export?_type=Patient&_since=2000-01-01T00:00:00.000Z';
    const { manifest } = await exportManifest(t.app, path);

    expect(manifest.request).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\$export\?/);
    expect(new URL(manifest.request).pathname + new URL(manifest.request).search).toBe(path);
    expect(new Date(manifest.transactionTime).toISOString()).toBe(manifest.transactionTime);
    // The files are served by this server, behind the same bearer token as the export.
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.error).toEqual([]);
    expect(manifest.deleted).toEqual([]);
  });

  it('restricts the export to the types named in _type', async () => {
    const data = patientsWithObservations(2, 2);
    await store(t.app, [...data, organization()]);
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: { _type: 'Observation,Organization' },
    });

    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([
      ['Observation', 4],
      ['Organization', 1],
    ]);
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(idsOf(data, 'Observation'));
  });

  it('exports with _since only resources updated after it, each in its current version', async () => {
    const [a, b] = await store(t.app, [patientWithId(), patientWithId()]);
    await sleep(5);
    const [c] = await store(t.app, [patientWithId()]);
    const since = c.meta?.lastUpdated as string;
    await sleep(5);
    const [a2] = await store(t.app, [{ ...a, active: true }]);
    const [d] = await store(t.app, [patientWithId()]);

    const { manifest } = await exportManifest(t.app, '/$export', { query: { _since: since } });

    expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
    const lines = await linesOfType(t.app, manifest, 'Patient');
    expect(idsOfLines(lines).sort()).toEqual([a.id, d.id].sort());
    const exportedA = JSON.parse(lines.find((l) => l.includes(a.id as string))!) as FhirResource;
    expect(exportedA.meta?.versionId).toBe('2');
    expect(exportedA).toEqual(a2);
    expect(idsOfLines(lines)).not.toContain(b.id);
    expect(idsOfLines(lines)).not.toContain(c.id);
  });

  it('exports at Patient level the patients and their compartments, not Organizations or unlinked data', async () => {
    const data = patientsWithObservations(2, 2);
    const unlinked = { ...observationOf('x'), subject: undefined };
    await store(t.app, [...data, organization(), unlinked]);

    const { manifest } = await exportManifest(t.app, '/Patient/$export');

    expect(manifest.output.map((o) => o.type)).toEqual(['Observation', 'Patient']);
    expect(await idsOfType(t.app, manifest, 'Patient')).toEqual(idsOf(data, 'Patient'));
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(idsOf(data, 'Observation'));
  });

  it('exports at Patient level with POST patient only the compartments of the named patients', async () => {
    const data = patientsWithObservations(3, 1);
    await store(t.app, data);
    const [first, , third] = idsOf(data, 'Patient').map((id) => data.find((r) => r.id === id)!);

    const { manifest } = await exportManifest(t.app, '/Patient/$export', {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [first, third].map((p) => ({
          name: 'patient',
          valueReference: { reference: `Patient/${p.id}` },
        })),
      },
    });

    expect(await idsOfType(t.app, manifest, 'Patient')).toEqual([first.id, third.id].sort());
    const observations = data.filter(
      (r) =>
        r.resourceType === 'Observation' &&
        [first.id, third.id].some((id) => JSON.stringify(r).includes(`Patient/${id}`)),
    );
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(
      idsOf(observations, 'Observation'),
    );
  });

  it('exports at Group level only the data of active members, nested Groups expanded', async () => {
    const [a, b, c, d] = [patientWithId(), patientWithId(), patientWithId(), patientWithId()];
    const observations = [a, b, c, d].map((p) => observationOf(p.id as string));
    const inner = group([{ reference: `Patient/${c.id}` }]);
    const outer = group([
      { reference: `Patient/${a.id}` },
      { reference: `Patient/${b.id}`, inactive: true },
      { reference: `Group/${inner.id}` },
    ]);
    await store(t.app, [a, b, c, d, ...observations, inner, outer]);

    const { manifest } = await exportManifest(t.app, `/Group/${outer.id}/$export`);

    expect(await idsOfType(t.app, manifest, 'Patient')).toEqual([a.id, c.id].sort());
    expect(await idsOfType(t.app, manifest, 'Observation')).toEqual(
      [observations[0].id, observations[2].id].sort(),
    );
    expect(manifest.output.every((o) => ['Group', 'Observation', 'Patient'].includes(o.type))).toBe(
      true,
    );
  });

  it('exports nothing for an empty Group', async () => {
    const empty = group([]);
    await store(t.app, [...patientsWithObservations(2, 1), empty]);
    const { manifest } = await exportManifest(t.app, `/Group/${empty.id}/$export`);
    expect(manifest.output).toEqual([]);
    expect(manifest.error).toEqual([]);
  });

  it('writes into _container under a yyyyMMddTHHmmss-<id>/ folder, as application/fhir+ndjson blobs', async () => {
    await store(t.app, patientsWithObservations(2, 1));
    const { statusPath, manifest } = await exportManifest(t.app, '/$export', {
      query: { _container: 'my-exports' },
    });

    const folder = `${compact(manifest.transactionTime)}-${exportIdOf(statusPath)}/`;
    expect(folder).toMatch(/^\d{8}T\d{6}-[0-9a-f-]{36}\/$/);
    const names = await listBlobNames('my-exports', folder);
    expect(names).toEqual([`${folder}Observation-1.ndjson`, `${folder}Patient-1.ndjson`]);
    const container = testBlobService().getContainerClient('my-exports');
    for (const name of names) {
      expect((await container.getBlobClient(name).getProperties()).contentType).toBe(FHIR_NDJSON);
    }

    // A second export into the same container gets a folder of its own.
    const second = await exportManifest(t.app, '/$export', {
      query: { _container: 'my-exports', _type: 'Patient' },
    });
    const secondFolder = `${compact(second.manifest.transactionTime)}-${exportIdOf(second.statusPath)}/`;
    expect(await listBlobNames('my-exports', secondFolder)).toEqual([
      `${secondFolder}Patient-1.ndjson`,
    ]);
    expect(await listBlobNames('my-exports', folder)).toEqual(names);
  });

  it('writes without _container into a new container export-<timestamp>-<id>', async () => {
    await store(t.app, patientsWithObservations(1, 1));
    const { statusPath, manifest } = await exportManifest(t.app, '/$export');

    const id = exportIdOf(statusPath);
    const expectedName = `export-${compact(manifest.transactionTime).toLowerCase()}-${id.replace(/-/g, '')}`;
    const containers: string[] = [];
    for await (const c of testBlobService().listContainers({ prefix: 'export-' })) {
      containers.push(c.name);
    }
    expect(containers).toContain(expectedName);
    expect(expectedName.length).toBeLessThanOrEqual(63);
    const names = await listBlobNames(expectedName);
    expect(names).toEqual(['Observation-1.ndjson', 'Patient-1.ndjson']);
    const container = testBlobService().getContainerClient(expectedName);
    for (const name of names) {
      expect((await container.getBlobClient(name).getProperties()).contentType).toBe(FHIR_NDJSON);
    }
  });

  it('serves a file gzip-compressed when the client accepts gzip, plain otherwise', async () => {
    await store(t.app, patientsWithObservations(3, 0));
    const { manifest } = await exportManifest(t.app, '/$export', { query: { _type: 'Patient' } });
    const expected = (await currentContentByType(t.app))
      .get('Patient')!
      .map((c) => c + '\n')
      .join('');

    const gzipped = await downloadRaw(t.app, manifest.output[0].url, { 'Accept-Encoding': 'gzip' });
    expect(gzipped.status).toBe(200);
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers['content-type']).toMatch(/^application\/fhir\+ndjson/);
    // supertest inflates it: the text proves the stream was valid gzip of the file.
    expect(gzipped.body.toString('utf8')).toBe(expected);

    const plain = await downloadRaw(t.app, manifest.output[0].url, {
      'Accept-Encoding': 'identity',
    });
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['content-type']).toMatch(/^application\/fhir\+ndjson/);
    expect(plain.body.toString('utf8')).toBe(expected);
  });

  it('answers 404 for a file name the manifest does not list', async () => {
    await store(t.app, [patientWithId()]);
    const { statusPath } = await exportManifest(t.app, '/$export', { query: { _type: 'Patient' } });
    for (const file of ['Patient-2.ndjson', 'Observation-1.ndjson', '..%2Fsecret']) {
      const res = await downloadRaw(t.app, `http://x${statusPath}/${file}`);
      expect({ file, status: res.status }).toEqual({ file, status: 404 });
    }
  });
});

describe('$export output rollover (EXPORT_FILE_MAX_MB=0.002, a checkpoint every page)', () => {
  const limit = Math.floor(0.002 * 1024 * 1024);
  const t = useExportApp({
    EXPORT_FILE_MAX_MB: '0.002',
    EXPORT_PAGE_SIZE: '7',
    EXPORT_CHECKPOINT_MB: '0.001',
  });

  it('rolls over to Patient-2.ndjson, Patient-3.ndjson, ... never splitting a line, counts exact', async () => {
    await store(t.app, patientsWithObservations(100, 1));
    const { manifest } = await exportManifest(t.app, '/$export');
    const expected = await currentContentByType(t.app);

    for (const type of ['Observation', 'Patient']) {
      const entries = manifest.output.filter((o) => o.type === type);
      expect(entries.length).toBeGreaterThanOrEqual(10);
      // Sorted by number, not as text: ...-9 before ...-10.
      expect(entries.map((e) => new URL(e.url).pathname.split('/').pop())).toEqual(
        entries.map((_, i) => `${type}-${i + 1}.ndjson`),
      );
      const all: string[] = [];
      for (const [index, entry] of entries.entries()) {
        const lines = await downloadLines(t.app, entry.url);
        expect(lines).toHaveLength(entry.count);
        for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
        const bytes = Buffer.byteLength(lines.join('\n') + '\n');
        const last = Buffer.byteLength(lines[lines.length - 1] + '\n');
        // A file passes the limit by no more than its last line, and only a closed file passes it.
        expect(bytes - last).toBeLessThanOrEqual(limit);
        if (index < entries.length - 1) expect(bytes).toBeGreaterThan(limit);
        all.push(...lines);
      }
      expect(all).toEqual(expected.get(type));
    }
    expect(manifest.output.map((o) => o.type)).toEqual([
      ...manifest.output.filter((o) => o.type === 'Observation').map(() => 'Observation'),
      ...manifest.output.filter((o) => o.type === 'Patient').map(() => 'Patient'),
    ]);
  });
});

describe('$export with EXPORT_FILE_URLS=sas', () => {
  const t = useExportApp({ EXPORT_FILE_URLS: 'sas' });

  it('hands out signed storage URLs that download with a plain fetch and need no access token', async () => {
    await store(t.app, patientsWithObservations(2, 1));
    const { manifest } = await exportManifest(t.app, '/$export');
    const expected = await currentContentByType(t.app);

    expect(manifest.requiresAccessToken).toBe(false);
    expect(manifest.output.map((o) => o.type)).toEqual(['Observation', 'Patient']);
    const storageUrl = testBlobService().url;
    for (const entry of manifest.output) {
      expect(entry.url.startsWith(storageUrl)).toBe(true);
      expect(new URL(entry.url).searchParams.get('sp')).toBe('r');
      const res = await fetch(entry.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(FHIR_NDJSON);
      expect(ndjsonLines(await res.text())).toEqual(expected.get(entry.type));
    }
    const unsigned = new URL(manifest.output[0].url);
    unsigned.search = '';
    expect((await fetch(unsigned)).status).not.toBe(200);
  });
});

describe('$export with EXPORT_STORAGE=filesystem', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'export-fs-'));
  });
  const t = useExportApp(() => ({ EXPORT_STORAGE: 'filesystem', EXPORT_FILESYSTEM_ROOT: root }));
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes the same layout under the root directory: container, then folder, then files', async () => {
    await store(t.app, patientsWithObservations(2, 1));
    const expected = await currentContentByType(t.app);

    const shared = await exportManifest(t.app, '/$export', { query: { _container: 'my-exports' } });
    const folder = `${compact(shared.manifest.transactionTime)}-${exportIdOf(shared.statusPath)}`;
    expect(await readdir(join(root, 'my-exports', folder))).toEqual([
      'Observation-1.ndjson',
      'Patient-1.ndjson',
    ]);
    for (const type of ['Observation', 'Patient']) {
      const onDisk = await readFile(join(root, 'my-exports', folder, `${type}-1.ndjson`), 'utf8');
      expect(ndjsonLines(onDisk)).toEqual(expected.get(type));
      expect(await linesOfType(t.app, shared.manifest, type)).toEqual(expected.get(type));
    }

    const own = await exportManifest(t.app, '/$export', { query: { _type: 'Patient' } });
    const container = `export-${compact(own.manifest.transactionTime).toLowerCase()}-${exportIdOf(own.statusPath).replace(/-/g, '')}`;
    expect(await readdir(join(root, container))).toEqual(['Patient-1.ndjson']);
  });
});
