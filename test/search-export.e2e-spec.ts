import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  ExportPageQuery,
  ExportReadRepository,
  ExportSelection,
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

/** A node of EXPLAIN (ANALYZE, FORMAT JSON) output. */
interface AnalyzedNode extends PlanNode {
  'Actual Rows'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: AnalyzedNode[];
}

function planNodes<T extends PlanNode>(node: T): T[] {
  return [node, ...((node.Plans ?? []) as T[]).flatMap((child) => planNodes(child))];
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

  /** An export job row owning `selection`, for pages that name it in `selectionOf`. */
  async function selectionJob(selection: ExportSelection): Promise<string> {
    const jobId = randomUUID();
    await t.app.get(DataSource).query(
      `INSERT INTO export_job (id, level, request, request_key, request_url, transaction_time,
                               snapshot, status, location)
       VALUES ($1::uuid, 'group', '{}', $1::text, '/Group/g/$export', now(), '', 'completed', '{}')`,
      [jobId],
    );
    await reads.saveSelection(jobId, selection);
    // Saving again adds nothing: a resumed run writes the same selection.
    await reads.saveSelection(jobId, selection);
    return jobId;
  }

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
    // The same rows selected once with the values bound, then paged by the job alone.
    const filtered = await selectionJob({ members: [], excluded: [] });
    const selection = { ...base, typeFilters: [{ query: `${HEART_RATE}&${tagFilter}` }] };
    expect(await reads.selectRows(filtered, selection)).toBe(2);
    expect(await reads.selectRows(filtered, selection)).toBe(0);
    expect(await page({ ...base, rowsOf: filtered })).toEqual(['a@1', 'd@1']);
    await reads.forgetRows(filtered);
    expect(await page({ ...base, rowsOf: filtered })).toEqual([]);
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
    const members = await selectionJob({ members: [owner], excluded: [] });
    const excluding = await selectionJob({
      members: [owner],
      excluded: [{ type: 'Patient', id: owner }],
    });
    const selections = [
      { transactionTime: before, selectionOf: members },
      { transactionTime: new Date(Date.now() + 1000), selectionOf: members },
      { transactionTime: new Date(Date.now() + 1000) },
      { transactionTime: new Date(Date.now() + 1000), selectionOf: excluding },
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
    expect([...counted[3]]).toEqual([
      ['Observation', 2],
      ['Patient', 0],
      ['Account', 0],
    ]);

    // Pages without identifying values (a selection is named by its job) are read with binary
    // COPY, _typeFilter pages as rows; the helper checks each against the page read.
    expect(await page({ type: 'Observation', transactionTime: before })).toEqual(
      expect.arrayContaining(['count-1@1', 'count-2@1']),
    );
    await page({ type: 'Observation', transactionTime: before, anyPatientCompartment: true });
    expect(
      await page({ type: 'Observation', transactionTime: before, selectionOf: members }),
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
        INSERT INTO resource (type, id, version, last_updated, content, patient_ids)
        SELECT (ARRAY['Observation','Condition','Patient','Encounter','Procedure'])[1 + g % 5],
               'gen-' || g, 1, now() - interval '1 day', '{"resourceType":"Generated"}',
               ARRAY['gen-patient-' || ((g / 5) % 1000)]
        FROM generate_series(1, 100000) g`);
      await db.query(`
        INSERT INTO search_token (seq, type, param, ordinal, system, code)
        SELECT seq, type, 'code', 0, 'http://loinc.org',
               CASE WHEN seq % 20 = 0 THEN '8867-4' ELSE 'gen-' || (seq % 997) END
        FROM resource WHERE id LIKE 'gen-%' AND type IN ('Observation', 'Condition')`);
      await db.query(`
        INSERT INTO search_reference (seq, type, param, ordinal, target_type, target_id)
        SELECT seq, type, 'subject', 0, 'Patient', 'gen-' || (seq % 5000)
        FROM resource WHERE id LIKE 'gen-%' AND type <> 'Patient'`);
      // 1% of the generated Observations changed since: what a `_since` export returns.
      await db.query(`
        UPDATE resource SET last_updated = now() - interval '1 minute'
        WHERE id LIKE 'gen-%' AND type = 'Observation' AND seq % 100 = 0`);
      await db.query('ANALYZE');
    });

    /** The statement `reads.page` runs for `query`, and how many rows it returned. */
    async function pageStatement(
      query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>,
    ): Promise<{ sql: string; params: unknown[]; returned: number }> {
      const db = t.app.get(DataSource);
      const captured: { sql: string; params: unknown[] }[] = [];
      const original = db.query.bind(db);
      const spy = jest.spyOn(db, 'query').mockImplementation((sql: string, params?: unknown) => {
        captured.push({ sql, params: (params as unknown[] | undefined) ?? [] });
        return original(sql, params as unknown[] | undefined);
      });
      let returned: number;
      try {
        returned = (await reads.page({ ...query, afterSeq: '0', limit: 1000 })).length;
      } finally {
        spy.mockRestore();
      }
      const statement = captured.find((q) => /ORDER BY [er]\.type, [er]\.seq/.test(q.sql));
      expect(statement).toBeDefined();
      return { ...statement!, returned };
    }

    /** The plan of the page statement `reads.page` runs for `query`, executed (ANALYZE). */
    async function analyzedPage(
      query: Omit<ExportPageQuery, 'afterSeq' | 'limit'>,
    ): Promise<{ sql: string; nodes: AnalyzedNode[] }> {
      const db = t.app.get(DataSource);
      const pageQuery = await pageStatement(query);
      const [explained] = await db.query<{ 'QUERY PLAN': { Plan: AnalyzedNode }[] }[]>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${pageQuery.sql}`,
        pageQuery.params,
      );
      return { sql: pageQuery.sql, nodes: planNodes(explained['QUERY PLAN'][0].Plan) };
    }

    /** Rows of `resource` the plan looked at: those it kept and those its filters dropped. */
    const resourceRowsRead = (nodes: AnalyzedNode[]): number =>
      nodes
        .filter((n) => n['Relation Name'] === 'resource')
        .reduce(
          (sum, n) =>
            sum +
            (n['Actual Rows'] ?? 0) +
            (n['Rows Removed by Filter'] ?? 0) +
            (n['Rows Removed by Index Recheck'] ?? 0),
          0,
        );

    it('reads about the changed rows for a _since page, through the (type, last_updated) index', async () => {
      const { nodes } = await analyzedPage({
        type: 'Observation',
        transactionTime: new Date(Date.now() + 1000),
        since: new Date(Date.now() - 60 * 60 * 1000),
      });
      expect(nodes.map((n) => n['Index Name'])).toContain('ix_resource_type_updated');
      // 200 generated Observations changed (1% of 20,000), plus the few other tests wrote.
      expect(resourceRowsRead(nodes)).toBeLessThan(600);
    });

    it("joins a Group selection kept with the job: no id in the statement, the members' rows only", async () => {
      const members = Array.from({ length: 100 }, (_, i) => `gen-patient-${i * 10}`);
      const jobId = await selectionJob({ members, excluded: [] });
      const { sql, nodes } = await analyzedPage({
        type: 'Observation',
        transactionTime: new Date(Date.now() + 1000),
        selectionOf: jobId,
      });
      expect(sql).not.toContain('gen-patient');
      expect(nodes.map((n) => n['Index Name'])).toContain('ix_resource_compartment');
      // 10% of the patients: their 2,000 generated Observations are read, of the 20,000
      // Observations and 100,000 generated rows.
      expect(resourceRowsRead(nodes)).toBeLessThanOrEqual(2_000);
    });

    it('pages rows selected once by their key, in order: one page reads one page of rows', async () => {
      const members = Array.from({ length: 100 }, (_, i) => `gen-patient-${i * 10}`);
      const jobId = await selectionJob({ members, excluded: [] });
      const query = { type: 'Observation', transactionTime: new Date(Date.now() + 1000) };
      expect(await reads.selectRows(jobId, { ...query, selectionOf: jobId })).toBe(2_000);
      const { sql, nodes } = await analyzedPage({ ...query, rowsOf: jobId });
      expect(sql).not.toContain('gen-patient');
      expect(nodes.map((n) => n['Index Name'])).toContain('pk_export_row');
      expect(nodes.map((n) => n['Node Type'])).not.toContain('Sort');
      // The page's 1,000 rows, each fetched by its seq.
      expect(resourceRowsRead(nodes)).toBeLessThanOrEqual(1_000);
    });

    it('plans a keyset export page with a typical _typeFilter on indexes, not a sequential scan', async () => {
      const db = t.app.get(DataSource);
      const pageQuery = await pageStatement({
        type: 'Observation',
        transactionTime: new Date(),
        typeFilters: [{ query: HEART_RATE }],
      });
      expect(pageQuery.returned).toBeGreaterThan(0);
      const [explained] = await db.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>(
        `EXPLAIN (FORMAT JSON) ${pageQuery.sql}`,
        pageQuery.params,
      );
      const nodes = planNodes(explained['QUERY PLAN'][0].Plan);
      const seqScans = nodes.filter((n) => n['Node Type'] === 'Seq Scan');
      expect(seqScans.map((n) => n['Relation Name'])).toEqual([]);
      const indexes = nodes.map((n) => n['Index Name']).filter(Boolean);
      expect(indexes.some((name) => name!.startsWith('ix_search_token_'))).toBe(true);
    });
  });
});
