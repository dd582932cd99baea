import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  ExportPageQuery,
  ExportReadRepository,
} from '../src/bulk-export/read/export-read.repository';
import { FhirResource, ResourceRepository } from '../src/resources/resource.repository';
import { SearchIndexer } from '../src/search/search-indexer';
import { SearchParameters } from '../src/search/search-parameters';
import { parseSearchQuery } from '../src/search/search-query';
import { reindexAll } from '../src/search/search-reindex';
import { useTestApp } from './support/test-app';

const HEART_RATE = 'code=http%3A%2F%2Floinc.org%7C8867-4';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

describe('_typeFilter evaluated in SQL by the export page and count reads', () => {
  const t = useTestApp();
  let repository: ResourceRepository;
  let reads: ExportReadRepository;
  const run = randomUUID().slice(0, 8);
  const tagFilter = `_tag=urn%3Atest%3Arun%7C${run}`;
  const id = (name: string): string => `${name}-${run}`;

  const observation = (name: string, code: string, subject = 'Patient/x'): FhirResource => ({
    resourceType: 'Observation',
    id: id(name),
    meta: { tag: [{ system: 'urn:test:run', code: run }] },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: subject },
  });

  async function write(resources: FhirResource[]): Promise<Date> {
    const stored = await repository.inTransaction(async (session) => {
      const out = [];
      for (const r of resources) out.push((await session.update(r.resourceType, r.id!, r)).stored);
      return out;
    });
    return stored[stored.length - 1].lastUpdated;
  }

  const page = async (query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>): Promise<string[]> => {
    const rows = await reads.page({ ...query, afterSeq: '0', limit: 1000 });
    // The NDJSON read the runner uses (binary COPY, or rows where values must stay bound)
    // returns the same page.
    const ndjson = await reads.pageNdjson({ ...query, afterSeq: '0', limit: 1000 });
    expect(ndjson.ndjson.toString('utf8')).toBe(rows.map((r) => `${r.content}\n`).join(''));
    expect([ndjson.count, ndjson.lastSeq]).toEqual([rows.length, rows.at(-1)?.seq]);
    return rows
      .map((r) => {
        const parsed = JSON.parse(r.content) as { id: string; meta: { versionId: string } };
        return `${parsed.id.replace(`-${run}`, '')}@${parsed.meta.versionId}`;
      })
      .sort();
  };

  beforeAll(() => {
    repository = t.app.get(ResourceRepository);
    reads = t.app.get(ExportReadRepository);
  });

  it('returns exactly the versions that matched as of transaction time, ORing the filters', async () => {
    await write([
      { resourceType: 'Patient', id: id('pat'), name: [{ family: `Chain${run}` }] },
      observation('a', '8867-4', `Patient/${id('pat')}`),
      observation('b', '29463-7'),
      observation('c', '8302-2'),
    ]);
    const before = await write([observation('d', '8867-4')]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // After T: a stops and b starts being a heart rate; e is new.
    await write([
      observation('a', '29463-7'),
      observation('b', '8867-4'),
      observation('e', '8867-4'),
    ]);
    const base = { type: 'Observation', transactionTime: before };

    expect(await page({ ...base, typeFilters: [{ query: `${HEART_RATE}&${tagFilter}` }] })).toEqual(
      ['a@1', 'd@1'],
    );
    expect(
      await page({
        ...base,
        typeFilters: [
          { query: `${HEART_RATE}&${tagFilter}` },
          { query: `code=8302-2&${tagFilter}` },
        ],
      }),
    ).toEqual(['a@1', 'c@1', 'd@1']);
    expect(
      await reads.count({
        ...base,
        typeFilters: [{ query: `${HEART_RATE}&${tagFilter}` }],
      }),
    ).toBe(2);
    // Now: b and e are heart rates, a is not.
    expect(
      await page({
        type: 'Observation',
        transactionTime: new Date(Date.now() + 1000),
        typeFilters: [{ query: `${HEART_RATE}&${tagFilter}` }],
      }),
    ).toEqual(['b@2', 'd@1', 'e@1']);
    // A chained filter sees the referenced Patient too.
    expect(
      await page({
        ...base,
        typeFilters: [{ query: `subject%3APatient.family=chain${run}&${tagFilter}` }],
      }),
    ).toEqual(['a@1']);
  });

  it('counts many types in one query exactly as count counts each type', async () => {
    const owner = id('counted');
    const before = await write([
      { resourceType: 'Patient', id: owner },
      observation('count-1', '8867-4', `Patient/${owner}`),
      observation('count-2', '8302-2', `Patient/${owner}`),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // After T: one more Observation, and one of the earlier two deleted.
    await write([observation('count-3', '8867-4', `Patient/${owner}`)]);
    await repository.inTransaction((session) => session.delete('Observation', id('count-1')));

    const types = ['Observation', 'Patient', 'Account'];
    const selections = [
      { transactionTime: before, patientIds: [owner] },
      { transactionTime: new Date(Date.now() + 1000), patientIds: [owner] },
      { transactionTime: new Date(Date.now() + 1000) },
      {
        transactionTime: new Date(Date.now() + 1000),
        excludeIds: { type: 'Patient', ids: [owner] },
      },
      { transactionTime: new Date(Date.now() + 1000), anyPatientCompartment: true },
      { transactionTime: new Date(Date.now() + 1000), since: before },
      { transactionTime: new Date(Date.now() + 1000), since: new Date(0), until: before },
    ];
    const counted = [];
    for (const selection of selections) {
      const grouped = await reads.counts({ ...selection, types });
      const oneByOne = new Map<string, number>();
      for (const type of types) {
        oneByOne.set(type, await reads.count({ ...selection, type }));
      }
      expect(grouped).toEqual(oneByOne);
      counted.push(grouped);
    }
    expect([...counted[0]]).toEqual([
      ['Observation', 2],
      ['Patient', 1],
      ['Account', 0],
    ]);
    expect(counted[1].get('Observation')).toBe(2);

    // Pages without identifying values are read with binary COPY, the others as rows; the
    // helper checks each against the page read.
    expect(await page({ type: 'Observation', transactionTime: before })).toEqual(
      expect.arrayContaining(['count-1@1', 'count-2@1']),
    );
    await page({ type: 'Observation', transactionTime: before, anyPatientCompartment: true });
    expect(
      await page({ type: 'Observation', transactionTime: before, patientIds: [owner] }),
    ).toEqual(['count-1@1', 'count-2@1']);
  });

  it('keeps a type unfiltered when no typeFilters are given', async () => {
    const now = new Date(Date.now() + 1000);
    const all = await page({ type: 'Observation', transactionTime: now, typeFilters: [] });
    expect(all.filter((k) => /^[a-e]@/.test(k)).length).toBeGreaterThanOrEqual(5);
  });

  it('lets the kick-off refuse parameters the server cannot evaluate, naming them', () => {
    const parameters = t.app.get(SearchParameters);
    expect(() => parseSearchQuery('Observation', 'colour=red', parameters)).toThrow(/colour/);
    expect(() =>
      parseSearchQuery('Observation', 'code-value-quantity=x', parameters, { context: 'filter' }),
    ).toThrow(/code-value-quantity/);
    expect(() =>
      parseSearchQuery('Observation', '_count=10', parameters, { context: 'filter' }),
    ).toThrow(/_count/);
    const parsed = parseSearchQuery('Observation', `${HEART_RATE}&colour=red`, parameters, {
      lenient: true,
      context: 'filter',
    });
    expect(parsed.conditions).toHaveLength(1);
    expect(parsed.ignored.map((i) => i.name)).toEqual(['colour']);
  });

  it('reindex rebuilds the same index rows for every stored version', async () => {
    const db = t.app.get(DataSource);
    const snapshot = async (): Promise<string> =>
      JSON.stringify(
        await db.query(
          `SELECT seq, param, system, code FROM search_token ORDER BY seq, param, system, code`,
        ),
      );
    const before = await snapshot();
    await db.query(
      `DELETE FROM search_token WHERE seq IN (SELECT seq FROM resource WHERE id = $1)`,
      [id('a')],
    );
    expect(await snapshot()).not.toBe(before);
    const progress = await reindexAll(db, t.app.get(SearchIndexer), { batchSize: 7 });
    expect(progress.versions).toBeGreaterThan(0);
    expect(await snapshot()).toBe(before);
  });

  describe('on a table of 100k generated resources', () => {
    beforeAll(async () => {
      const db = t.app.get(DataSource);
      await db.query(`
        INSERT INTO resource (type, id, version, last_updated, content)
        SELECT (ARRAY['Observation','Condition','Patient','Encounter','Procedure'])[1 + g % 5],
               'gen-' || g, 1, now() - interval '1 day', '{"resourceType":"Generated"}'
        FROM generate_series(1, 100000) g`);
      await db.query(`
        INSERT INTO search_token (seq, type, param, system, code)
        SELECT seq, type, 'code', 'http://loinc.org',
               CASE WHEN seq % 20 = 0 THEN '8867-4' ELSE 'gen-' || (seq % 997) END
        FROM resource WHERE id LIKE 'gen-%' AND type IN ('Observation', 'Condition')`);
      await db.query(`
        INSERT INTO search_reference (seq, type, param, target_type, target_id)
        SELECT seq, type, 'subject', 'Patient', 'gen-' || (seq % 5000)
        FROM resource WHERE id LIKE 'gen-%' AND type <> 'Patient'`);
      await db.query('ANALYZE');
    });

    it('plans a keyset export page with a typical _typeFilter on indexes, not a sequential scan', async () => {
      const db = t.app.get(DataSource);
      const captured: { sql: string; params: unknown[] }[] = [];
      const original = db.query.bind(db);
      const spy = jest.spyOn(db, 'query').mockImplementation((sql: string, params?: unknown) => {
        captured.push({ sql, params: (params as unknown[] | undefined) ?? [] });
        return original(sql, params as unknown[] | undefined);
      });
      try {
        const rows = await reads.page({
          type: 'Observation',
          afterSeq: '0',
          limit: 1000,
          transactionTime: new Date(),
          typeFilters: [{ query: HEART_RATE }],
        });
        expect(rows.length).toBeGreaterThan(0);
      } finally {
        spy.mockRestore();
      }
      const pageQuery = captured.find((q) => q.sql.includes('ORDER BY r.type, r.seq'));
      expect(pageQuery).toBeDefined();
      const [explained] = await db.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>(
        `EXPLAIN (FORMAT JSON) ${pageQuery!.sql}`,
        pageQuery!.params,
      );
      const nodes = planNodes(explained['QUERY PLAN'][0].Plan);
      const seqScans = nodes.filter((n) => n['Node Type'] === 'Seq Scan');
      expect(seqScans.map((n) => n['Relation Name'])).toEqual([]);
      const indexes = nodes.map((n) => n['Index Name']).filter(Boolean);
      expect(indexes.some((name) => name!.startsWith('ix_search_token_'))).toBe(true);
    });
  });
});
