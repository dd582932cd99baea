import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getQueueToken } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import { format, resolveConfig } from 'prettier';
import { createApp } from '../src/app.factory';
import { EXPORT_QUEUE } from '../src/bulk-export/export-queue';
import { loadConfig } from '../src/config/app-config';
import { migrate } from '../src/database/migrate';
import { buildOpenApiDocument } from '../src/openapi/openapi';

// npm runs scripts from the package root.
const ROOT = process.cwd();
const DOCUMENT = join(ROOT, 'openapi', 'openapi.json');
const CLIENT_TYPES = join(ROOT, 'test', 'generated', 'openapi.d.ts');

/** The document exactly as the application builds it, as committed in openapi/openapi.json. */
async function documentText(): Promise<string> {
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: 'silent',
    ROLE: 'api',
    // The document does not depend on storage; no account is contacted.
    AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  });
  await migrate(config);
  const app = await createApp(config);
  await app.init();
  try {
    // Closing a BullMQ queue whose connection is still initializing makes it emit an unhandled
    // 'error' that kills the process.
    await app.get<Queue>(getQueueToken(EXPORT_QUEUE), { strict: false }).waitUntilReady();
    return `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

/**
 * What `npm run openapi:client` writes for the given document: the openapi-typescript CLI's
 * output formatted by Prettier with the project settings (the same two tools, so the bytes match).
 */
async function clientTypesText(document: string): Promise<string> {
  const pkg = require.resolve('openapi-typescript/package.json');
  const cli = join(dirname(pkg), 'bin', 'cli.js');
  const generated = execFileSync(process.execPath, [cli], {
    cwd: ROOT,
    input: document,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const options = await resolveConfig(CLIENT_TYPES, { editorconfig: true });
  return format(generated, { ...options, filepath: CLIENT_TYPES });
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return ''; // missing counts as stale
  }
}

/**
 * Writes openapi/openapi.json from the application. `--check` writes nothing and fails when
 * openapi/openapi.json or the client types generated from it (test/generated/openapi.d.ts)
 * differ from what the current code produces, so neither can go stale.
 */
async function main(): Promise<void> {
  const document = await documentText();
  if (!process.argv.includes('--check')) {
    mkdirSync(dirname(DOCUMENT), { recursive: true });
    writeFileSync(DOCUMENT, document);
    process.stdout.write(`wrote ${DOCUMENT}\n`);
    return;
  }
  const stale: string[] = [];
  if (readOrEmpty(DOCUMENT) !== document) stale.push('openapi/openapi.json');
  if (readOrEmpty(CLIENT_TYPES) !== (await clientTypesText(document))) {
    stale.push('test/generated/openapi.d.ts');
  }
  if (stale.length > 0) {
    const verb = stale.length > 1 ? 'are' : 'is';
    process.stderr.write(
      `${stale.join(' and ')} ${verb} stale: run \`npm run openapi\` and commit\n`,
    );
    process.exit(1);
  }
  process.stdout.write('openapi/openapi.json and test/generated/openapi.d.ts are up to date\n');
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
