import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenVerifier } from '../src/auth/token/token-verifier.service';
import { newClientId } from './support/auth-helpers';
import { useTestApp } from './support/test-app';

/** The compiled commands: `npm test` builds dist/ before it runs the suites. */
const SCRIPTS = join(__dirname, '..', 'dist', 'scripts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('client and token commands (SMART Backend Services, run as an operator runs them)', () => {
  const t = useTestApp();
  let baseUrl: string;
  let workDir: string;

  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    const { port } = (t.app.getHttpServer() as Server).address() as AddressInfo;
    baseUrl = `http://127.0.0.1:${port}`;
    workDir = await mkdtemp(join(tmpdir(), 'auth-cli-'));
  });

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** Runs `node dist/scripts/<script>.js …args` in the work directory, with the test database's environment. */
  const run = (script: 'client' | 'token', ...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(SCRIPTS, `${script}.js`), ...args],
        { cwd: workDir, env: { ...process.env } },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  const keyFileOf = (clientId: string) => join(workDir, `${clientId}.private.jwk.json`);
  const listed = async (clientId: string) => {
    const list = await run('client', 'list');
    expect(list).toMatchObject({ code: 0, stderr: '' });
    return list.stdout.split('\n').find((line) => line.startsWith(`${clientId} `));
  };

  describe('a registered client', () => {
    const clientId = newClientId('cli');

    beforeAll(async () => {
      const res = await run(
        'client',
        'register',
        clientId,
        '--scope',
        'system/*.read system/Observation.cruds',
        '--containers',
        'exports-a,exports-b',
        '--max-concurrent-exports',
        '2',
      );
      expect(res).toMatchObject({ code: 0, stderr: '' });
      expect(res.stdout).toContain(`registered client ${clientId}`);
    });

    it('has its private key in ./<client_id>.private.jwk.json, readable by its owner only', async () => {
      const file = keyFileOf(clientId);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const jwk = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-384', alg: 'ES384' });
      expect(typeof jwk.d).toBe('string');
      expect(typeof jwk.kid).toBe('string');
    });

    it('is listed as active with its scope, containers and export limit', async () => {
      expect(await listed(clientId)).toBe(
        `${clientId}  active  scope="system/*.read system/Observation.cruds"  ` +
          'containers=exports-a,exports-b  max_concurrent_exports=2',
      );
    });

    it('gets an access token, alone on stdout, that the server accepts with the granted scope', async () => {
      const res = await run('token', clientId, '--url', baseUrl, '--scope', 'system/Patient.rs');
      expect(res).toMatchObject({ code: 0, stderr: '' });
      expect(res.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const principal = await t.app.get(TokenVerifier).verify(res.stdout.trim(), {
        audience: baseUrl,
      });
      expect(principal).toMatchObject({ clientId, scope: 'system/Patient.rs' });
    });

    it('asks for system/*.read unless told otherwise, and prints the whole response with --json', async () => {
      const res = await run('token', clientId, '--url', baseUrl, '--json');
      expect(res).toMatchObject({ code: 0, stderr: '' });
      const body = JSON.parse(res.stdout) as Record<string, unknown>;
      expect(body).toMatchObject({ token_type: 'bearer', scope: 'system/*.read' });
      await expect(
        t.app.get(TokenVerifier).verify(body.access_token as string),
      ).resolves.toMatchObject({ clientId, scope: 'system/*.read' });
    });

    it('cannot be registered again, and the key file written for the attempt is removed', async () => {
      const keyFile = join(workDir, 'second-attempt.jwk.json');
      const res = await run(
        'client',
        'register',
        clientId,
        '--scope',
        'system/*.read',
        '--key-file',
        keyFile,
      );
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`client_id ${clientId} is already registered`);
      expect(existsSync(keyFile)).toBe(false);
    });
  });

  it('refuses to register over an existing key file, and registers nothing', async () => {
    const clientId = newClientId('cli-exists');
    await writeFile(keyFileOf(clientId), 'an operator’s only copy\n');
    const res = await run('client', 'register', clientId, '--scope', 'system/*.read');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('already exists; refusing to overwrite a private key');
    expect(await readFile(keyFileOf(clientId), 'utf8')).toBe('an operator’s only copy\n');
    expect(await listed(clientId)).toBeUndefined();
  });

  it('refuses a bad --scope with the scope message and leaves no key file', async () => {
    const clientId = newClientId('cli-scope');
    const res = await run('client', 'register', clientId, '--scope', 'patient/*.read');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('only system/ scopes are granted to backend services');
    expect(existsSync(keyFileOf(clientId))).toBe(false);
    expect(await listed(clientId)).toBeUndefined();
  });

  it('revokes a client: listed as revoked, its token command fails with invalid_client', async () => {
    const clientId = newClientId('cli-revoke');
    expect(await run('client', 'register', clientId, '--scope', 'system/*.read')).toMatchObject({
      code: 0,
    });
    expect((await run('token', clientId, '--url', baseUrl)).code).toBe(0);

    expect(await run('client', 'revoke', clientId)).toMatchObject({
      code: 0,
      stdout: `revoked client ${clientId}\n`,
    });
    expect(await listed(clientId)).toMatch(new RegExp(`^${clientId}  revoked \\d{4}-`));

    const token = await run('token', clientId, '--url', baseUrl);
    expect(token).toMatchObject({ code: 1, stdout: '' });
    expect(token.stderr).toContain(`invalid_client: Client ${clientId} has been revoked`);

    const again = await run('client', 'revoke', clientId);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no active client ${clientId}`);
  });
});
