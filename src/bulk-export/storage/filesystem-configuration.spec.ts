import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationNotRead } from './export-sink';
import { FilesystemSink } from './filesystem.sink';

/** The `anonymization/` folder of the filesystem sink stands in for Azure's container. */
describe('FilesystemSink.readConfiguration', () => {
  let root: string;
  let sink: FilesystemSink;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'sink-config-'));
    sink = new FilesystemSink({ root });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const reason = (promise: Promise<unknown>) =>
    promise.then(
      () => 'read',
      (error: unknown) => (error instanceof ConfigurationNotRead ? error.reason : String(error)),
    );

  it('reads a configuration with a strong ETag of its content, and holds to a given one', async () => {
    mkdirSync(join(root, 'anonymization'));
    writeFileSync(join(root, 'anonymization', 'safe.json'), '{"fhirPathRules":[]}');

    const { content, etag } = await sink.readConfiguration('safe.json', { maxBytes: 1024 });

    expect(content.toString()).toBe('{"fhirPathRules":[]}');
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    await expect(sink.readConfiguration('safe.json', { etag, maxBytes: 1024 })).resolves.toEqual({
      content,
      etag,
    });
    expect(await reason(sink.readConfiguration('safe.json', { etag: '"0"', maxBytes: 1024 }))).toBe(
      'etag-mismatch',
    );
  });

  it('tells a missing folder from a missing file, and refuses what is too large or not a name', async () => {
    expect(await reason(sink.readConfiguration('safe.json', { maxBytes: 1024 }))).toBe(
      'no-container',
    );
    mkdirSync(join(root, 'anonymization'));
    expect(await reason(sink.readConfiguration('safe.json', { maxBytes: 1024 }))).toBe('not-found');
    writeFileSync(join(root, 'anonymization', 'big.json'), 'x'.repeat(2048));
    expect(await reason(sink.readConfiguration('big.json', { maxBytes: 1024 }))).toBe('too-large');
    writeFileSync(join(root, 'secret'), '{}');
    expect(await reason(sink.readConfiguration('../secret', { maxBytes: 1024 }))).toBe('not-found');
  });
});
