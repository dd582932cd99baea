import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestApp } from './support/test-app';

const ROOT = join(__dirname, '..');

/** The shell block of the README between its walkthrough markers, as a newcomer copies it. */
function walkthrough(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const match = /<!-- walkthrough:start -->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(
    readme,
  );
  if (!match) throw new Error('README.md has no walkthrough block');
  return match[1];
}

/**
 * Runs the README's "Try an export" walk-through, commands as written, against a server on a
 * free port. Only what a test cannot do as a newcomer does is swapped: the port, a client id of
 * its own, and `npm run` for the already built scripts (`npm test` builds first).
 */
describe('the README walk-through', () => {
  const t = useTestApp({}, { reset: 'once' });
  let port: number;
  let work: string;

  beforeAll(async () => {
    await t.app.listen(0);
    port = ((t.app.getHttpServer() as Server).address() as AddressInfo).port;
    work = mkdtempSync(join(tmpdir(), 'walkthrough-'));
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('registers a client, gets a token and runs an export with curl, as written', async () => {
    const clientId = `readme-${randomUUID()}`;
    const script = walkthrough()
      .replaceAll('localhost:8080', `localhost:${port}`)
      .replaceAll('my-client', clientId)
      .replaceAll('npm run client --', `node ${join(ROOT, 'dist/scripts/client.js')}`)
      .replaceAll('npm run --silent token --', `node ${join(ROOT, 'dist/scripts/token.js')}`)
      .replaceAll('@test/fixtures/', `@${join(ROOT, 'test/fixtures')}/`);

    const { stdout, stderr, code } = await new Promise<{
      stdout: string;
      stderr: string;
      code: number;
    }>((resolve) => {
      execFile(
        'bash',
        ['-eu', '-c', script],
        { cwd: work, env: { ...process.env, PORT: String(port) }, timeout: 90_000 },
        (error, out, err) =>
          resolve({ stdout: out, stderr: err, code: (error?.code as number | undefined) ?? 0 }),
      );
    });

    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    // The private key stayed with the client, readable by its owner only.
    const keyFile = join(work, `${clientId}.private.jwk.json`);
    expect(existsSync(keyFile)).toBe(true);
    const manifest = JSON.parse(readFileSync(join(work, 'manifest.json'), 'utf8')) as {
      requiresAccessToken: boolean;
      output: { type: string; count: number }[];
    };
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.output.find((f) => f.type === 'Patient')?.count).toBe(1);
    // The head of the downloaded Patient file.
    expect(stdout).toContain('{"resourceType":"Patient"');
  }, 120_000);
});
