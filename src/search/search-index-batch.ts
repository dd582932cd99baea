/** Column arrays of one index table, ready to pass to `unnest` as one array per column. */
type Columns<K extends string> = Record<K, unknown[]>;

const TABLES = {
  token: ['seq', 'type', 'param', 'system', 'code', 'text'],
  string: ['seq', 'type', 'param', 'value', 'norm'],
  date: ['seq', 'type', 'param', 'low', 'high'],
  reference: ['seq', 'type', 'param', 'target_type', 'target_id', 'url'],
  quantity: ['seq', 'type', 'param', 'value', 'system', 'code', 'unit'],
  number: ['seq', 'type', 'param', 'value'],
  uri: ['seq', 'type', 'param', 'value'],
} as const;

/** Numbers the values of one parameter of one version: the primary key is (seq, param, ordinal). */
const ORDINAL = 'ordinal';

const SQL_TYPES: Record<string, string> = {
  seq: 'bigint',
  ordinal: 'integer',
  low: 'timestamptz',
  high: 'timestamptz',
  value: 'text',
};

const NUMERIC_TABLES = new Set(['quantity', 'number']);

export type IndexTable = keyof typeof TABLES;
export const INDEX_TABLES = Object.keys(TABLES) as IndexTable[];

type Batch = { [T in IndexTable]: Columns<(typeof TABLES)[T][number]> };

/** Runs one SQL statement; a TypeORM QueryRunner's or DataSource's `query` fits. */
export type QueryFn = (sql: string, params: unknown[]) => Promise<unknown>;

function emptyBatch(): Batch {
  const batch = {} as Record<string, Record<string, unknown[]>>;
  for (const [table, columns] of Object.entries(TABLES)) {
    batch[table] = Object.fromEntries(columns.map((c) => [c, []]));
  }
  return batch as Batch;
}

/**
 * Index rows collected while a transaction writes versions, written with one multi-row
 * `INSERT ... SELECT FROM unnest(...)` per table: a transaction Bundle of thousands of
 * resources costs seven statements, not one per value.
 */
export class SearchIndexBatch {
  private rows: Batch = emptyBatch();
  private ordinals = new Map<string, number>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add<T extends IndexTable>(table: T, row: Record<(typeof TABLES)[T][number], unknown>): void {
    const columns = this.rows[table] as Record<string, unknown[]>;
    for (const column of TABLES[table]) columns[column].push(row[column as keyof typeof row]);
    const key = `${table}\0${String(row['seq' as keyof typeof row])}\0${String(row['param' as keyof typeof row])}`;
    const ordinal = this.ordinals.get(key) ?? 0;
    this.ordinals.set(key, ordinal + 1);
    (columns[ORDINAL] ??= []).push(ordinal);
    this.count++;
  }

  /** Writes and clears the collected rows. */
  async flush(query: QueryFn): Promise<void> {
    if (this.count === 0) return;
    const rows = this.rows;
    this.rows = emptyBatch();
    this.ordinals = new Map();
    this.count = 0;
    for (const table of INDEX_TABLES) {
      const columns = rows[table] as Record<string, unknown[]>;
      const names = [...TABLES[table], ORDINAL];
      if (columns.seq.length === 0) continue;
      const unnest = names
        .map((c, i) => {
          const sqlType =
            c === 'value' && NUMERIC_TABLES.has(table) ? 'numeric' : (SQL_TYPES[c] ?? 'text');
          return `$${i + 1}::${sqlType}[]`;
        })
        .join(', ');
      await query(
        `INSERT INTO search_${table} (${names.join(', ')}) SELECT * FROM unnest(${unnest})`,
        names.map((c) => columns[c]),
      );
    }
  }
}
