import { DataSource } from 'typeorm';
import { INDEX_TABLES, QueryFn, SearchIndexBatch } from '../src/search/search-index-batch';
import {
  observation,
  patient,
  postEntry,
  putEntry,
  TestBundleEntry,
  transaction,
  urnUuid,
} from './support/factories';
import { api, useTestApp } from './support/test-app';

const FHIR_JSON = 'application/fhir+json';

interface ResponseEntry {
  fullUrl: string;
  response: { status: string; location: string; etag: string; lastModified: string };
}

interface Row {
  seq: string;
  type: string;
  id: string;
  version: number;
  last_updated: Date;
  content: string;
  patient_ids: string[];
}

/**
 * Large transaction Bundles, whose creates the store writes with multi-row INSERTs: every
 * resource must still get its own seq, index rows, compartment and response entry, and a
 * failure anywhere must leave nothing behind.
 */
describe('Large transaction Bundles (batched creates)', () => {
  const t = useTestApp();
  let db: DataSource;

  beforeAll(() => {
    db = t.app.get(DataSource);
  });

  const postBundle = (bundle: unknown) =>
    api(t.app).post('/').set('Content-Type', FHIR_JSON).send(JSON.stringify(bundle));

  /** `patients` Patients, each followed by `perPatient` Observations about it through urn:uuid. */
  function population(
    patients: number,
    perPatient: number,
  ): { entries: TestBundleEntry[]; mrns: string[] } {
    const entries: TestBundleEntry[] = [];
    const mrns: string[] = [];
    for (let p = 0; p < patients; p++) {
      const fullUrl = urnUuid();
      const mrn = `mrn-${p}-${fullUrl.slice(-12)}`;
      mrns.push(mrn);
      // Observations first: references point forward as often as back.
      for (let o = 0; o < perPatient; o++) {
        entries.push(postEntry(observation(fullUrl, { valueQuantity: { value: p * 100 + o } })));
      }
      entries.push(
        postEntry(patient({ identifier: [{ system: 'urn:test:mrn', value: mrn }] }), fullUrl),
      );
    }
    return { entries, mrns };
  }

  async function countAll(): Promise<Record<string, number>> {
    const tables = ['resource', ...INDEX_TABLES.map((t) => `search_${t}`)];
    const counts: Record<string, number> = {};
    for (const table of tables) {
      const [row] = await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`);
      counts[table] = row.n;
    }
    return counts;
  }

  it('stores 500 urn:uuid-linked creates, each with its own seq, index rows, compartment and response entry', async () => {
    const { entries, mrns } = population(50, 9);
    expect(entries).toHaveLength(500);

    const res = await postBundle(transaction(entries)).expect(200);

    const answered = res.body.entry as ResponseEntry[];
    expect(answered).toHaveLength(500);
    const located = answered.map((entry, i) => {
      expect(entry.response.status).toBe('201 Created');
      expect(entry.response.etag).toBe('W/"1"');
      const match = /\/(Patient|Observation)\/([^/]+)\/_history\/1$/.exec(entry.response.location);
      expect(match?.[1]).toBe(entries[i].resource!.resourceType);
      expect(entry.fullUrl).toMatch(new RegExp(`/${match![1]}/${match![2]}$`));
      return { type: match![1], id: match![2] };
    });
    const lastModified = answered[0].response.lastModified;
    expect(answered.every((e) => e.response.lastModified === lastModified)).toBe(true);

    const rows = await db.query<Row[]>(
      `SELECT seq, type, id, version, last_updated, content, patient_ids FROM resource
       WHERE (type, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [located.map((l) => l.type), located.map((l) => l.id)],
    );
    expect(rows).toHaveLength(500);
    const byKey = new Map(rows.map((row) => [`${row.type}/${row.id}`, row]));
    const inRequestOrder = located.map((l) => byKey.get(`${l.type}/${l.id}`)!);
    // seqs are distinct and follow the request order.
    const seqs = inRequestOrder.map((row) => BigInt(row.seq));
    expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1])).toBe(true);

    for (const [i, row] of inRequestOrder.entries()) {
      expect(row.version).toBe(1);
      expect(row.last_updated.toISOString()).toBe(lastModified);
      const content = JSON.parse(row.content) as {
        id: string;
        meta: { versionId: string; lastUpdated: string };
        subject?: { reference: string };
      };
      expect(content.id).toBe(row.id);
      expect(content.meta).toEqual({ versionId: '1', lastUpdated: lastModified });
      // Each patient's Patient entry is the 10th of its group of ten.
      const patientId = located[i - (i % 10) + 9].id;
      expect(row.patient_ids).toEqual([patientId]);
      if (row.type === 'Observation')
        expect(content.subject!.reference).toBe(`Patient/${patientId}`);
    }

    // Every index row of these versions sits under a seq of the same type, and each
    // resource's rows say what that resource says.
    const mismatched = await db.query<{ n: number }[]>(
      INDEX_TABLES.map(
        (t) => `SELECT count(*)::int AS n FROM search_${t} s JOIN resource r ON r.seq = s.seq
                WHERE r.seq = ANY($1::bigint[]) AND r.type <> s.type`,
      ).join(' UNION ALL '),
      [seqs.map(String)],
    );
    expect(mismatched.every((m) => m.n === 0)).toBe(true);
    const subjects = await db.query<{ seq: string; target_id: string }[]>(
      `SELECT seq, target_id FROM search_reference
       WHERE seq = ANY($1::bigint[]) AND param = 'subject' AND target_type = 'Patient'`,
      [seqs.map(String)],
    );
    const subjectOf = new Map(subjects.map((s) => [s.seq, s.target_id]));
    const identifiers = await db.query<{ seq: string; code: string }[]>(
      `SELECT seq, code FROM search_token
       WHERE seq = ANY($1::bigint[]) AND param = 'identifier' AND type = 'Patient'`,
      [seqs.map(String)],
    );
    const identifierOf = new Map(identifiers.map((s) => [s.seq, s.code]));
    expect(subjects).toHaveLength(450);
    expect(identifiers).toHaveLength(50);
    for (const [i, row] of inRequestOrder.entries()) {
      const patientId = located[i - (i % 10) + 9].id;
      if (row.type === 'Observation') expect(subjectOf.get(row.seq)).toBe(patientId);
      else expect(identifierOf.get(row.seq)).toBe(mrns[Math.floor(i / 10)]);
    }

    // And search, which reads through those rows, finds them.
    const patientId = located[9].id;
    const search = await api(t.app)
      .get(`/Observation?subject=Patient/${patientId}&_summary=count`)
      .expect(200);
    expect(search.body.total).toBe(9);
  });

  it('leaves no row in resource or any search_* table when the last entry fails after the creates and index rows were written', async () => {
    // Enough index rows that the session flushes some to the database before the failure.
    const { entries } = population(300, 9);
    const flushedBeforeFailure: number[] = [];
    const flush = SearchIndexBatch.prototype.flush;
    jest.spyOn(SearchIndexBatch.prototype, 'flush').mockImplementation(function (
      this: SearchIndexBatch,
      query: QueryFn,
    ) {
      flushedBeforeFailure.push(this.size);
      return flush.call(this, query);
    });
    const before = await countAll();

    // The update runs after every create (FHIR order) and fails its precondition.
    const failing = putEntry({ ...patient(), id: 'batch-missing' }, 'W/"1"');
    const res = await postBundle(transaction([...entries, failing])).expect(412);

    expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[3000\]: If-Match W\/"1"/);
    expect(flushedBeforeFailure.some((size) => size > 0)).toBe(true);
    expect(await countAll()).toEqual(before);
  });
});
