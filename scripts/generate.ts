import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Bundle, bundleStats, generatePopulation } from '../generator/population-generator';
import { readArguments } from './cli-arguments';

export { generatePopulation } from '../generator/population-generator';

const USAGE = 'usage: node dist/scripts/generate.js --patients N --seed S [--out DIR]';

export interface GenerateOptions {
  patients: number;
  seed: number;
  out: string;
}

export interface GenerateSummary {
  patients: number;
  seed: number;
  out: string;
  /** Resources of the patients' own records (what a Patient-level export returns). */
  resources: number;
  resourcesByType: Record<string, number>;
  /** Distinct shared Organization/Location/Practitioner resources the population names. */
  sharedResources: number;
  /** The records' resources as NDJSON (compact JSON lines), as an export writes them. */
  ndjsonBytes: number;
  /** Bytes of the Bundle files written. */
  bundleBytes: number;
  seconds: number;
  patientsPerSecond: number;
  megabytesPerSecond: number;
}

export function parseArguments(argv: readonly string[]): GenerateOptions {
  const args = readArguments(argv, ['--patients', '--seed', '--out'], USAGE);
  const integer = args.integer;
  const patients = integer('--patients');
  const seed = integer('--seed', 1);
  return {
    patients,
    seed,
    out: resolve(args.text('--out') ?? join('bench', 'tmp', `population-${seed}`)),
  };
}

/**
 * Writes one transaction Bundle file per patient (`patient-000000.json`, ...) into `out`,
 * holding one patient in memory at a time, and returns what was written.
 */
export async function generateToDirectory(options: GenerateOptions): Promise<GenerateSummary> {
  const { patients, seed, out } = options;
  await mkdir(out, { recursive: true });
  const width = Math.max(6, String(Math.max(0, patients - 1)).length);
  const resourcesByType: Record<string, number> = {};
  const shared = new Set<string>();
  let resources = 0;
  let ndjsonBytes = 0;
  let bundleBytes = 0;
  let index = 0;
  const started = process.hrtime.bigint();
  for await (const bundle of generatePopulation(patients, seed)) {
    const text = JSON.stringify(bundle);
    await writeFile(join(out, `patient-${String(index).padStart(width, '0')}.json`), text);
    bundleBytes += Buffer.byteLength(text);
    const stats = bundleStats(bundle);
    resources += stats.resources;
    ndjsonBytes += stats.ndjsonBytes;
    for (const [type, count] of Object.entries(stats.byType)) {
      resourcesByType[type] = (resourcesByType[type] ?? 0) + count;
    }
    collectShared(bundle, shared);
    index++;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    patients,
    seed,
    out,
    resources,
    resourcesByType,
    sharedResources: shared.size,
    ndjsonBytes,
    bundleBytes,
    seconds,
    patientsPerSecond: seconds > 0 ? patients / seconds : 0,
    megabytesPerSecond: seconds > 0 ? bundleBytes / 1e6 / seconds : 0,
  };
}

function collectShared(bundle: Bundle, into: Set<string>): void {
  for (const entry of bundle.entry) {
    if (entry.request.ifNoneExist !== undefined) {
      into.add(`${entry.request.url}?${entry.request.ifNoneExist}`);
    }
  }
}

export function formatSummary(s: GenerateSummary): string {
  const lines = [
    `wrote ${s.patients} patient Bundles (seed ${s.seed}) to ${s.out}`,
    `resources: ${s.resources} (${(s.resources / Math.max(1, s.patients)).toFixed(1)} per patient)` +
      ` + ${s.sharedResources} shared Organization/Location/Practitioner`,
  ];
  const byType = Object.entries(s.resourcesByType).sort((a, b) => b[1] - a[1]);
  for (const [type, count] of byType) {
    const share = ((100 * count) / Math.max(1, s.resources)).toFixed(1);
    lines.push(`  ${type.padEnd(22)} ${String(count).padStart(10)} ${share.padStart(6)}%`);
  }
  lines.push(
    `NDJSON bytes: ${s.ndjsonBytes} (${(s.ndjsonBytes / 1e6 / Math.max(1, s.patients)).toFixed(3)} MB per patient)`,
    `Bundle bytes: ${s.bundleBytes}`,
    `time: ${s.seconds.toFixed(2)} s, ${s.patientsPerSecond.toFixed(1)} patients/s, ` +
      `${s.megabytesPerSecond.toFixed(1)} MB/s of Bundles`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  const summary = await generateToDirectory(options);
  process.stdout.write(`${formatSummary(summary)}\n${JSON.stringify(summary)}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
