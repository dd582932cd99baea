import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/app-config';
import { dataSourceOptions } from '../src/database/data-source-options';
import { migrate } from '../src/database/migrate';
import { FhirDefinitions } from '../src/fhir/fhir-definitions.service';
import { SearchIndexer } from '../src/search/search-indexer';
import { SearchParameters } from '../src/search/search-parameters';
import { reindexAll } from '../src/search/search-reindex';

/** `npm run reindex`: rebuilds the search index of every stored resource version. */
async function main(): Promise<void> {
  const config = loadConfig();
  await migrate(config);
  const dataSource = new DataSource({ ...dataSourceOptions(config), entities: [] });
  await dataSource.initialize();
  try {
    const started = Date.now();
    const done = await reindexAll(
      dataSource,
      new SearchIndexer(new SearchParameters(new FhirDefinitions())),
      {
        onBatch: ({ versions, lastSeq }) =>
          process.stdout.write(`reindexed ${versions} versions (seq <= ${lastSeq})\n`),
      },
    );
    process.stdout.write(
      `reindex complete: ${done.versions} versions in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`reindex failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
