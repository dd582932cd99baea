import { PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { copyNdjsonPage, inlineParameters } from '../src/bulk-export/read/copy-ndjson';
import { useTestApp } from './support/test-app';

/**
 * Export pages run as COPY, which takes no bind parameters, so their values are inlined as
 * literals. PostgreSQL itself is the judge: each value must come back exactly as the same
 * value bound as a parameter, hostile ones included.
 */
describe('inlineParameters against PostgreSQL', () => {
  const t = useTestApp();
  let db: DataSource;

  beforeAll(() => {
    db = t.app.get(DataSource);
  });

  const hostile = [
    "'; DROP TABLE resource; --",
    "back\\slash \\' quote",
    '$1 $$ dollar $tag$',
    'Zoë 😀',
    'NULL',
    '',
  ];
  const arrayItems = ['a,b', '{braces}', 'quote"inside', 'back\\slash', 'NULL', ' spaced ', ''];

  it('reads back every string, array, number and instant exactly as bound parameters do', async () => {
    const sql =
      'SELECT $1::text AS s1, $2::text AS s2, $3::text AS s3, $4::text AS s4, $5::text AS s5, ' +
      '$6::text AS s6, $7::text[] AS a, $8::timestamptz AS t, $9::bigint AS n, $10::numeric AS x, ' +
      '$11::timestamptz AS bc';
    const values = [
      ...hostile,
      arrayItems,
      new Date('2026-01-02T03:04:05.006Z'),
      '9007199254740993',
      12.5,
      // A _since the kick-off accepts; JavaScript's year 0 is 1 BC.
      new Date('0001-01-01T00:00:00+01:00'),
    ];
    const [bound] = await db.query<Record<string, unknown>[]>(sql, values);
    const [inlined] = await db.query<Record<string, unknown>[]>(inlineParameters(sql, values));
    expect(inlined).toEqual(bound);
    expect(bound.a).toEqual(arrayItems);
    expect(bound.s1).toBe(hostile[0]);
  });
});

describe('copyNdjsonPage against PostgreSQL', () => {
  const t = useTestApp();

  it('refuses a page it cannot frame, and leaves the connection usable for the next query', async () => {
    const db = t.app.get(DataSource);
    const runner = db.createQueryRunner();
    const client = (await runner.connect()) as PoolClient;
    try {
      // Enough rows that the COPY is still streaming when the bad one is framed.
      const select =
        "SELECT n::bigint AS seq, CASE WHEN n = 3 THEN E'{\\n}' ELSE repeat('x', 2000) END AS content " +
        'FROM generate_series(1, $1::int) AS n';
      await expect(copyNdjsonPage(client, select, [5000])).rejects.toThrow(/raw newline/);

      const rows = await client.query<{ one: number }>('SELECT 1 AS one');
      expect(rows.rows).toEqual([{ one: 1 }]);
    } finally {
      await runner.release();
    }
  });
});
