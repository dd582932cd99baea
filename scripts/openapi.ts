import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createApp } from '../src/app.factory';
import { loadConfig } from '../src/config/app-config';
import { migrate } from '../src/database/migrate';
import { buildOpenApiDocument } from '../src/openapi/openapi';

/**
 * Writes openapi/openapi.json from the application (`--check`: fails when the committed file
 * differs, so the document cannot go stale).
 */
async function main(): Promise<void> {
  const check = process.argv.includes('--check');
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
  const text = `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`;
  await app.close();
  const file = join(__dirname, '..', '..', 'openapi', 'openapi.json');
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(file, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (committed !== text) {
      process.stderr.write('openapi/openapi.json is stale: run `npm run openapi` and commit it\n');
      process.exit(1);
    }
    process.stdout.write('openapi/openapi.json is up to date\n');
    return;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
