import 'reflect-metadata';
import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module';
import { AppConfig, loadConfig } from '../src/config/app-config';
import { migrate } from '../src/database/migrate';
import { UNRESTRICTED_PRINCIPAL } from '../src/auth/access/principal';
import { BundleService } from '../src/resources/bundle.service';
import { Bundle, bundleStats, generatePatientBundle } from '../generator/population-generator';
import { readArguments } from './cli-arguments';

const USAGE =
  'usage: node dist/scripts/seed.js --patients N [--seed S] [--concurrency C]\n' +
  '  loads the synthetic population into DATABASE_URL through the store (BundleService)';

/** Identifier system the generator gives every Patient, valued with its generator id. */
const GENERATOR_IDENTIFIER_SYSTEM = 'https://github.com/synthetichealth/synthea';

export interface SeedOptions {
  patients: number;
  seed: number;
  /** Transaction Bundles in flight at once. */
  concurrency: number;
}

export interface SeedSummary {
  patients: number;
  seed: number;
  concurrency: number;
  /** Patients already in the database from an earlier run, left alone. */
  skippedPatients: number;
  loadedPatients: number;
  /** Resources of the loaded patients' records, shared providers excluded. */
  resources: number;
  /** Entries sent, shared conditional creates included (what the store processed). */
  entries: number;
  seconds: number;
  resourcesPerSecond: number;
  entriesPerSecond: number;
  /** Time spent generating Bundles in this process, included in `seconds`. */
  generateSeconds: number;
}

export function parseSeedArguments(argv: readonly string[]): SeedOptions {
  const args = readArguments(argv, ['--patients', '--seed', '--concurrency'], USAGE);
  const integer = args.integer;
  const concurrency = integer('--concurrency', 4);
  if (concurrency < 1) throw new Error('--concurrency must be at least 1');
  return { patients: integer('--patients'), seed: integer('--seed', 1), concurrency };
}

/**
 * The seed's configuration: the caller's environment, with what a loader never needs switched
 * off (no export worker, no blob storage account).
 */
export function seedConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return loadConfig({
    ...env,
    ROLE: 'api',
    EXPORT_STORAGE: 'filesystem',
    AZURE_STORAGE_CONNECTION_STRING: undefined,
    EXPORT_FILE_URLS: 'proxy',
    LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
  });
}

/** The Bundle's Patient and its generator id (the value under the Synthea identifier system). */
function generatorIdOf(bundle: Bundle): string {
  for (const entry of bundle.entry) {
    const resource = entry.resource as {
      resourceType: string;
      identifier?: { system?: string; value?: string }[];
    };
    if (resource.resourceType !== 'Patient') continue;
    const value = resource.identifier?.find((i) => i.system === GENERATOR_IDENTIFIER_SYSTEM)?.value;
    if (value) return value;
  }
  throw new Error('generated Bundle has no Patient with a generator identifier');
}

async function loadedGeneratorIds(dataSource: DataSource): Promise<Set<string>> {
  const rows = await dataSource.query<{ value: string }[]>(
    `SELECT jsonb_path_query(content::jsonb,
              '$.identifier[*] ? (@.system == $s).value', jsonb_build_object('s', $1::text)) #>> '{}' AS value
       FROM resource WHERE type = 'Patient' AND superseded_at IS NULL AND NOT deleted`,
    [GENERATOR_IDENTIFIER_SYSTEM],
  );
  return new Set(rows.map((r) => r.value));
}

/**
 * Loads patients 0..N-1 of the seed's population through {@link BundleService.process}, the
 * store's own transaction path (compartments and search index written as for any client),
 * with `concurrency` Bundles in flight. Each patient is one database transaction, so a patient
 * is in the database whole or not at all; a patient whose generator identifier is already
 * there is skipped, so a second run loads nothing and a larger `--patients` loads only the
 * difference.
 */
export async function seedPopulation(
  options: SeedOptions,
  config: AppConfig = seedConfig(),
  onProgress?: (loaded: number, resources: number) => void,
): Promise<SeedSummary> {
  await migrate(config);
  const context: INestApplicationContext = await NestFactory.createApplicationContext(
    AppModule.forRoot(config),
    { logger: ['error', 'warn'] },
  );
  try {
    const bundles = context.get(BundleService);
    const existing = await loadedGeneratorIds(context.get(DataSource));
    // The seed is an operator's tool: it writes as the unrestricted principal.
    const restContext = {
      baseUrl: 'http://seed.invalid/fhir',
      prefer: 'minimal' as const,
      principal: UNRESTRICTED_PRINCIPAL,
    };

    let next = 0;
    let skipped = 0;
    let loaded = 0;
    let resources = 0;
    let entries = 0;
    let generateNs = 0n;
    const started = process.hrtime.bigint();

    const take = (): Bundle | undefined => {
      while (next < options.patients) {
        const t0 = process.hrtime.bigint();
        const bundle = generatePatientBundle(next++, options.seed);
        generateNs += process.hrtime.bigint() - t0;
        if (existing.has(generatorIdOf(bundle))) {
          skipped++;
          continue;
        }
        return bundle;
      }
      return undefined;
    };
    const lane = async (): Promise<void> => {
      for (let bundle = take(); bundle; bundle = take()) {
        const stats = bundleStats(bundle);
        await bundles.process(bundle, restContext);
        loaded++;
        resources += stats.resources;
        entries += bundle.entry.length;
        onProgress?.(loaded, resources);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, lane));

    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      patients: options.patients,
      seed: options.seed,
      concurrency: options.concurrency,
      skippedPatients: skipped,
      loadedPatients: loaded,
      resources,
      entries,
      seconds,
      resourcesPerSecond: seconds > 0 ? resources / seconds : 0,
      entriesPerSecond: seconds > 0 ? entries / seconds : 0,
      generateSeconds: Number(generateNs) / 1e9,
    };
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  const options = parseSeedArguments(process.argv.slice(2));
  let lastReport = Date.now();
  const summary = await seedPopulation(options, seedConfig(), (loaded, resources) => {
    if (Date.now() - lastReport < 5000) return;
    lastReport = Date.now();
    process.stderr.write(`seed: ${loaded} patients, ${resources} resources loaded\n`);
  });
  process.stdout.write(
    `seeded ${summary.loadedPatients} patients (${summary.skippedPatients} already present), ` +
      `${summary.resources} resources in ${summary.seconds.toFixed(1)} s: ` +
      `${summary.resourcesPerSecond.toFixed(0)} resources/s ` +
      `(generation ${summary.generateSeconds.toFixed(1)} s of it)\n${JSON.stringify(summary)}\n`,
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  });
}
