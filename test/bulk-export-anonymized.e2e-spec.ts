import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cryptoHash } from '../src/anonymization/methods/crypto-hash';
import {
  downloadLines,
  expectOperationOutcome,
  exportManifest,
  kickOffResponse,
  Manifest,
  pathOf,
  pollUntilDone,
  useExportApp,
} from './support/export-helpers';
import { readBundle, syntheaBundleFiles } from './support/factories';
import { testBlobService } from './support/azurite';
import { api } from './support/test-app';
import { killAllWorkers, spawnWorker } from './support/worker-process';

const SAFE_HARBOR = JSON.parse(
  readFileSync(join(__dirname, '..', 'config', 'anonymization', 'safe-harbor.json'), 'utf8'),
) as { parameters: Record<string, unknown> };
const KEYS = {
  dateShiftKey: 'date-shift-key-for-tests',
  cryptoHashKey: 'crypto-hash-key-for-tests',
  encryptKey: '0123456789abcdef0123456789abcdef',
};

type Resource = Record<string, unknown> & { resourceType: string; id: string };

async function upload(name: string, content: string | Buffer): Promise<string> {
  const container = testBlobService().getContainerClient('anonymization');
  await container.createIfNotExists();
  const { etag } = await container.getBlockBlobClient(name).upload(content, content.length);
  return etag ?? '';
}

/** Every string value anywhere in `value`. */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => strings(v, out));
  return out;
}

/** Every `reference` of a Reference anywhere in `value`. */
function references(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => references(v, out));
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'reference' && typeof v === 'string') out.push(v);
      else references(v, out);
    }
  }
  return out;
}

/** The identifying values of the loaded Synthea data: what must not survive. */
function identifyingValues(resources: Resource[]): string[] {
  const values = new Set<string>();
  for (const resource of resources) {
    if (resource.resourceType === 'Patient') {
      for (const name of (resource.name as { family?: string; given?: string[] }[]) ?? []) {
        if (name.family) values.add(name.family);
        for (const given of name.given ?? []) values.add(given);
      }
      for (const address of (resource.address as { line?: string[]; city?: string }[]) ?? []) {
        for (const line of address.line ?? []) values.add(line);
        if (address.city) values.add(address.city);
      }
      for (const telecom of (resource.telecom as { value?: string }[]) ?? []) {
        if (telecom.value) values.add(telecom.value);
      }
      if (typeof resource.birthDate === 'string') values.add(resource.birthDate);
    }
    // The Safe Harbor sample keeps organizations' identifiers, telecom and address: they
    // identify no patient.
    if (resource.resourceType === 'Organization') continue;
    for (const identifier of (resource.identifier as { value?: string }[]) ?? []) {
      // Short codes (a "1") would match by accident; real identifiers are longer.
      if (identifier.value && identifier.value.length >= 6) values.add(identifier.value);
    }
    const div = (resource.text as { div?: string } | undefined)?.div;
    if (div) values.add(div);
  }
  return [...values];
}

async function exportedResources(
  app: Parameters<typeof downloadLines>[0],
  manifest: Manifest,
): Promise<Resource[]> {
  const resources: Resource[] = [];
  for (const file of manifest.output) {
    for (const line of await downloadLines(app, file.url)) resources.push(JSON.parse(line));
  }
  return resources;
}

describe('de-identified $export (_anonymizationConfig)', () => {
  const t = useExportApp({}, { reset: 'once' });
  let loaded: Resource[];

  beforeAll(async () => {
    loaded = [];
    for (const file of syntheaBundleFiles()) {
      const bundle = readBundle(file);
      const res = await api(t.app)
        .post('/')
        .set('Content-Type', 'application/fhir+json')
        .set('Prefer', 'return=representation')
        .send(JSON.stringify(bundle))
        .expect(200);
      for (const entry of (res.body as { entry: { resource: Resource }[] }).entry) {
        loaded.push(entry.resource);
      }
    }
    await upload('safe-harbor.json', JSON.stringify(SAFE_HARBOR));
    await upload(
      'safe-harbor-keys.json',
      JSON.stringify({ ...SAFE_HARBOR, parameters: { ...SAFE_HARBOR.parameters, ...KEYS } }),
    );
    await upload(
      'safe-harbor-patient.json',
      JSON.stringify({
        ...SAFE_HARBOR,
        parameters: { ...SAFE_HARBOR.parameters, ...KEYS, dateShiftScope: 'patient' },
      }),
    );
  });

  it('exports the population with no name, address, telecom, identifier value, narrative or birth date left, and every reference resolving inside the export', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: { _container: 'research', _anonymizationConfig: 'safe-harbor.json' },
    });
    const extension = (manifest as Manifest & { extension: Record<string, unknown> }).extension;
    expect(extension).toMatchObject({
      anonymized: true,
      anonymizationConfig: 'safe-harbor.json',
      anonymizationConfigEtag: expect.stringMatching(/^"/) as unknown,
    });
    const exported = await exportedResources(t.app, manifest);
    expect(exported).toHaveLength(loaded.length);

    const text = new Set(exported.flatMap((r) => strings(r)));
    const survivors = identifyingValues(loaded).filter((value) => text.has(value));
    expect(survivors).toEqual([]);
    // Free text inside longer strings too: no family name appears anywhere.
    const blob = exported.map((r) => JSON.stringify(r)).join('\n');
    const families = loaded
      .filter((r) => r.resourceType === 'Patient')
      .flatMap((r) => (r.name as { family?: string }[]).map((n) => n.family ?? ''))
      .filter((f) => f.length >= 4);
    expect(families.filter((family) => blob.includes(family))).toEqual([]);

    const keys = new Set(exported.map((r) => `${r.resourceType}/${r.id}`));
    const dangling = exported
      .flatMap((r) => references(r))
      .filter((reference) => /^[A-Z][A-Za-z]+\/[^/]+$/.test(reference))
      .filter((reference) => !keys.has(reference));
    expect(dangling).toEqual([]);
    for (const resource of exported) {
      expect(
        (resource.meta as { security?: { code: string }[] }).security?.map((s) => s.code),
      ).toEqual(expect.arrayContaining(['REDACTED', 'CRYTOHASH']));
    }
  });

  it('gives byte-identical files for the same configuration and keys', async () => {
    const query = {
      _container: 'research',
      _anonymizationConfig: 'safe-harbor-keys.json',
      _type: 'Patient,Encounter',
    };
    const first = await exportManifest(t.app, '/$export', { query });
    const second = await exportManifest(t.app, '/$export', { query });
    expect(second.statusPath).not.toBe(first.statusPath);
    const contents = async (manifest: Manifest) =>
      Promise.all(manifest.output.map((f) => downloadLines(t.app, f.url)));
    expect(await contents(second.manifest)).toEqual(await contents(first.manifest));
  });

  it('keeps the days between one patient’s encounters under the patient date-shift scope', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: {
        _container: 'research',
        _anonymizationConfig: 'safe-harbor-patient.json',
        _type: 'Encounter',
      },
    });
    const exported = await exportedResources(t.app, manifest);
    const day = (instant: string) =>
      Date.UTC(+instant.slice(0, 4), +instant.slice(5, 7) - 1, +instant.slice(8, 10)) / 86_400_000;
    const byPatient = new Map<string, number[]>();
    for (const original of loaded.filter((r) => r.resourceType === 'Encounter')) {
      const anonymized = exported.find((r) => r.id === cryptoHash(original.id, KEYS.cryptoHashKey));
      const start = (original.period as { start: string }).start;
      const shifted = (anonymized?.period as { start?: string } | undefined)?.start;
      expect(shifted).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00/);
      const patient = (original.subject as { reference: string }).reference;
      const offsets = byPatient.get(patient) ?? [];
      offsets.push(day(shifted!) - day(start));
      byPatient.set(patient, offsets);
    }
    expect(byPatient.size).toBeGreaterThan(1);
    for (const offsets of byPatient.values()) expect(new Set(offsets).size).toBe(1);
  });

  it('takes the parameters by POST at Patient level, and lists the misspelt processingError as a warning', async () => {
    await upload(
      'azure-docs.json',
      JSON.stringify({
        fhirVersion: 'R4',
        // As the Azure documentation spells it.
        processingError: 'raise',
        fhirPathRules: [
          { path: 'Resource.id', method: 'cryptoHash' },
          { path: "nodesByType('HumanName')", method: 'redact' },
        ],
        parameters: { cryptoHashKey: KEYS.cryptoHashKey },
      }),
    );
    const { manifest } = await exportManifest(t.app, '/Patient/$export', {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Patient' },
          { name: '_container', valueString: 'research' },
          { name: '_anonymizationConfig', valueString: 'azure-docs.json' },
        ],
      },
    });
    const patients = loaded.filter((r) => r.resourceType === 'Patient');
    const exported = await exportedResources(t.app, manifest);
    expect(exported.map((r) => r.id).sort()).toEqual(
      patients.map((p) => cryptoHash(p.id, KEYS.cryptoHashKey)).sort(),
    );
    expect(exported.every((r) => r.name === undefined)).toBe(true);
    const warnings = await downloadLines(t.app, manifest.error[0].url);
    expect(warnings.join('\n')).toContain('processingError');
  });

  it('fails the export naming the resource and the rule under processingErrors raise', async () => {
    await upload(
      'raise.json',
      JSON.stringify({
        fhirVersion: 'R4',
        processingErrors: 'raise',
        fhirPathRules: [{ path: 'Patient.name', method: 'generalize', cases: { true: "'x'" } }],
      }),
    );
    const res = await kickOffResponse(t.app, '/$export', {
      query: { _container: 'research', _anonymizationConfig: 'raise.json', _type: 'Patient' },
    });
    expect(res.status).toBe(202);
    const done = await pollUntilDone(t.app, pathOf(res.headers['content-location']));
    expectOperationOutcome(done, 500, {
      mentions: ['Patient/', 'fhirPathRules[0]', 'processingErrors: raise'],
    });
  });

  it('writes the redacted stub and lists the resource in the error file under processingErrors skip', async () => {
    await upload(
      'skip.json',
      JSON.stringify({
        fhirVersion: 'R4',
        processingErrors: 'skip',
        fhirPathRules: [{ path: 'Patient.name', method: 'generalize', cases: { true: "'x'" } }],
      }),
    );
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: { _container: 'research', _anonymizationConfig: 'skip.json', _type: 'Patient' },
    });
    const patients = loaded.filter((r) => r.resourceType === 'Patient');
    const exported = await exportedResources(t.app, manifest);
    expect(exported).toEqual(
      patients.map(() => ({
        resourceType: 'Patient',
        meta: {
          security: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
              code: 'REDACTED',
              display: 'redacted',
            },
          ],
        },
      })),
    );
    const errors = await downloadLines(t.app, manifest.error[0].url);
    expect(errors).toHaveLength(patients.length);
    expect(errors[0]).toContain('redacted stub (processingErrors: skip)');
  });

  it.each([
    ['a configuration that is not JSON', 'broken.json', '{"fhirPathRules": [', 'not JSON'],
    [
      'an unknown method',
      'unknown-method.json',
      JSON.stringify({ fhirPathRules: [{ path: 'Patient.name', method: 'scramble' }] }),
      'fhirPathRules[0]',
    ],
    [
      'a path that does not compile',
      'bad-path.json',
      JSON.stringify({ fhirPathRules: [{ path: 'Patient.name.where(', method: 'redact' }] }),
      'fhirPathRules[0]',
    ],
    [
      'substitute without replaceWith',
      'no-replace.json',
      JSON.stringify({ fhirPathRules: [{ path: 'Patient.name', method: 'substitute' }] }),
      'replaceWith',
    ],
    [
      'an encryptKey of the wrong length',
      'short-key.json',
      JSON.stringify({
        fhirPathRules: [{ path: 'Patient.name', method: 'encrypt' }],
        parameters: { encryptKey: 'short' },
      }),
      'encryptKey',
    ],
    ['a 2 MB configuration', 'huge.json', `{"x":"${'a'.repeat(2 * 1024 * 1024)}"}`, 'bytes'],
  ])(
    'refuses %s at kick-off with a 400 naming the problem, and starts nothing',
    async (_, name, content, mention) => {
      await upload(name, content);
      const res = await kickOffResponse(t.app, '/$export', {
        query: { _container: 'research', _anonymizationConfig: name },
      });
      expectOperationOutcome(res, 400, { expression: '_anonymizationConfig', mentions: [mention] });
    },
  );

  it('refuses a missing configuration, a wrong ETag and an anonymized export without _container', async () => {
    expectOperationOutcome(
      await kickOffResponse(t.app, '/$export', {
        query: { _container: 'research', _anonymizationConfig: 'nothing-here.json' },
      }),
      400,
      { expression: '_anonymizationConfig', mentions: ['nothing-here.json'] },
    );
    expectOperationOutcome(
      await kickOffResponse(t.app, '/$export', {
        query: {
          _container: 'research',
          _anonymizationConfig: 'safe-harbor.json',
          _anonymizationConfigEtag: '0x8DEADBEEF',
        },
      }),
      400,
      { expression: '_anonymizationConfigEtag', mentions: ['0x8DEADBEEF'] },
    );
    expectOperationOutcome(
      await kickOffResponse(t.app, '/$export', {
        query: { _anonymizationConfig: 'safe-harbor.json' },
      }),
      400,
      { expression: '_container' },
    );
  });

  it('accepts the ETag the storage reports, with or without quotes', async () => {
    const etag = await upload('etag-check.json', JSON.stringify({ ...SAFE_HARBOR }));
    for (const given of [etag, etag.replace(/"/g, '')]) {
      const res = await kickOffResponse(t.app, '/$export', {
        query: {
          _container: 'research',
          _anonymizationConfig: 'etag-check.json',
          _anonymizationConfigEtag: given,
          _type: 'Patient',
        },
      });
      expect(res.status).toBe(202);
    }
  });
});

/**
 * A separate worker process, as production runs them: it opens the keys the API process
 * sealed (both have EXPORT_KEY_ENCRYPTION_KEY), so its output matches the engine's, and
 * `raise` still stops the export.
 */
describe('de-identified $export on a separate worker process', () => {
  const t = useExportApp({ ROLE: 'api' }, { reset: 'once' });
  let patients: Resource[];

  beforeAll(async () => {
    await spawnWorker({ QUEUE_PREFIX: t.config.QUEUE_PREFIX, EXPORT_PAGE_SIZE: '50' }).ready;
    patients = [];
    for (const file of syntheaBundleFiles()) {
      const res = await api(t.app)
        .post('/')
        .set('Content-Type', 'application/fhir+json')
        .set('Prefer', 'return=representation')
        .send(JSON.stringify(readBundle(file)))
        .expect(200);
      for (const entry of (res.body as { entry: { resource: Resource }[] }).entry) {
        if (entry.resource.resourceType === 'Patient') patients.push(entry.resource);
      }
    }
    await upload(
      'worker-keys.json',
      JSON.stringify({ ...SAFE_HARBOR, parameters: { ...SAFE_HARBOR.parameters, ...KEYS } }),
    );
    await upload(
      'worker-raise.json',
      JSON.stringify({
        fhirVersion: 'R4',
        fhirPathRules: [{ path: 'Patient.name', method: 'generalize', cases: { true: "'x'" } }],
      }),
    );
  });

  afterAll(() => killAllWorkers());

  it('exports what the engine gives with the sealed keys, and fails naming the resource under raise', async () => {
    const { manifest } = await exportManifest(t.app, '/$export', {
      query: { _container: 'research', _anonymizationConfig: 'worker-keys.json', _type: 'Patient' },
    });
    const exported = await exportedResources(t.app, manifest);
    expect(exported.map((r) => r.id).sort()).toEqual(
      patients.map((p) => cryptoHash(p.id, KEYS.cryptoHashKey)).sort(),
    );
    // Safe Harbor keeps a name's `use`, an address's state and country, and 3 zip digits.
    const kept = exported.flatMap((r) => [
      ...((r.name as object[] | undefined) ?? []).flatMap((n) => Object.keys(n)),
      ...((r.address as object[] | undefined) ?? []).flatMap((a) => Object.keys(a)),
    ]);
    expect(new Set(kept)).toEqual(new Set(['use', 'state', 'country', 'postalCode']));
    const zips = exported
      .flatMap((r) =>
        ((r.address as { postalCode?: string }[] | undefined) ?? []).map((a) => a.postalCode),
      )
      .filter((zip) => zip !== undefined);
    expect(zips.length).toBeGreaterThan(0);
    for (const zip of zips) expect(zip).toMatch(/^\d{3}00$/);

    const res = await kickOffResponse(t.app, '/$export', {
      query: {
        _container: 'research',
        _anonymizationConfig: 'worker-raise.json',
        _type: 'Patient',
      },
    });
    const done = await pollUntilDone(t.app, pathOf(res.headers['content-location']));
    expectOperationOutcome(done, 500, { mentions: ['Patient/', 'fhirPathRules[0]'] });
  });
});
