import { FhirDefinitions } from '../fhir/fhir-definitions.service';
import { SearchIndexBatch } from './search-index-batch';
import { SearchIndexer } from './search-indexer';
import { SearchParameters } from './search-parameters';
import { dateRange, normalizeString, parseDecimal, parseReference } from './search-values';

describe('SearchIndexer', () => {
  const indexer = new SearchIndexer(new SearchParameters(new FhirDefinitions()));

  async function rows(resource: { resourceType: string; [k: string]: unknown }): Promise<string[]> {
    const batch = new SearchIndexBatch();
    const statements: { sql: string; params: unknown[][] }[] = [];
    indexer.extract(resource, '7', batch);
    await batch.flush((sql, params) => {
      statements.push({ sql, params: params as unknown[][] });
      return Promise.resolve();
    });
    return statements.flatMap(({ sql, params }) => {
      const table = /search_(\w+)/.exec(sql)![1];
      return params[0].map(
        (_seq, i) =>
          `${table} ${params
            .slice(2, -1)
            .map((column) => String(column[i]))
            .join(' ')}`,
      );
    });
  }

  it('indexes tokens, dates, references and quantities of an Observation', async () => {
    const indexed = await rows({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
      subject: { reference: 'Patient/p1' },
      effectivePeriod: { start: '2020-01-01' },
      valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      performer: [{ reference: '#contained' }],
    });
    expect(indexed).toEqual(
      expect.arrayContaining([
        'token code http://loinc.org 8867-4 heart rate',
        'token status null final null',
        'reference subject Patient p1 null',
        'reference patient Patient p1 null',
        'date date 2020-01-01T00:00:00.000Z infinity',
        'quantity value-quantity 72 http://unitsofmeasure.org /min /min',
      ]),
    );
    expect(indexed.filter((r) => r.startsWith('reference performer'))).toEqual([]);
  });

  it('indexes each part of a HumanName normalised for case and accents', async () => {
    const indexed = await rows({
      resourceType: 'Patient',
      name: [{ family: 'Müller', given: ['Anna', 'Lü'] }],
    });
    expect(indexed).toEqual(
      expect.arrayContaining([
        'string family Müller muller',
        'string name Anna anna',
        'string given Lü lu',
      ]),
    );
  });

  it('keeps only references to the type a where(resolve() is X) branch names', async () => {
    const indexed = await rows({
      resourceType: 'Observation',
      subject: { reference: 'Group/g1' },
    });
    expect(indexed.filter((r) => r.startsWith('reference patient'))).toEqual([]);
    expect(indexed).toContain('reference subject Group g1 null');
  });

  it('numbers the values of each parameter of a version from 0, the key (seq, param, ordinal)', async () => {
    const batch = new SearchIndexBatch();
    indexer.extract(
      {
        resourceType: 'Observation',
        status: 'final',
        code: {
          coding: [
            { system: 'http://loinc.org', code: '8867-4' },
            { system: 'http://snomed.info/sct', code: '364075005' },
          ],
        },
      },
      '7',
      batch,
    );
    indexer.extract({ resourceType: 'Observation', status: 'final' }, '8', batch);
    const keys: string[] = [];
    await batch.flush((sql, params) => {
      const columns = params as unknown[][];
      if (sql.includes('search_token')) {
        columns[0].forEach((seq, i) =>
          keys.push(`${String(seq)} ${String(columns[2][i])} ${String(columns.at(-1)![i])}`),
        );
      }
      return Promise.resolve();
    });
    expect(keys.filter((k) => / (code|status) /.test(k)).sort()).toEqual([
      '7 code 0',
      '7 code 1',
      '7 status 0',
      '8 status 0',
    ]);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('search values', () => {
  it('turns partial dates and instants into half-open ranges', () => {
    expect(dateRange('2020')).toEqual({
      low: '2020-01-01T00:00:00.000Z',
      high: '2021-01-01T00:00:00.000Z',
    });
    expect(dateRange('2020-02-29T10:00:00+02:00')).toEqual({
      low: '2020-02-29T08:00:00.000Z',
      high: '2020-02-29T08:00:01.000Z',
    });
    expect(dateRange('yesterday')).toBeUndefined();
  });

  it('normalises strings and numbers and parses references', () => {
    expect(normalizeString('  ÉLodie  Ünal ')).toBe('elodie unal');
    expect(parseDecimal('100')).toEqual({ value: '100', half: '5e-1' });
    expect(parseDecimal('1.50')).toEqual({ value: '1.50', half: '5e-3' });
    expect(parseReference('http://x.org/fhir/Patient/1/_history/2')).toEqual({
      targetType: 'Patient',
      targetId: '1',
      url: 'http://x.org/fhir/Patient/1/_history/2',
    });
    expect(parseReference('#c1')).toBeUndefined();
    expect(parseReference('urn:uuid:abc')).toEqual({ url: 'urn:uuid:abc' });
  });
});
