import { DataSource } from 'typeorm';
import { INDEX_TABLES, SearchIndexBatch } from './search-index-batch';
import { SearchIndexer } from './search-indexer';

export interface ReindexProgress {
  versions: number;
  lastSeq: string;
}

/**
 * Rebuilds the search index of every stored version (current and superseded, so exports as
 * of a past time stay filterable), `batchSize` versions per transaction in seq order. Each
 * batch replaces the rows of its seq range, so a run can be interrupted and repeated.
 */
export async function reindexAll(
  dataSource: DataSource,
  indexer: SearchIndexer,
  options: { batchSize?: number; onBatch?: (progress: ReindexProgress) => void } = {},
): Promise<ReindexProgress> {
  const batchSize = options.batchSize ?? 1000;
  const progress: ReindexProgress = { versions: 0, lastSeq: '0' };
  for (;;) {
    const rows = await dataSource.query<{ seq: string; content: string | null }[]>(
      `SELECT seq, content FROM resource WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [progress.lastSeq, batchSize],
    );
    if (rows.length === 0) return progress;
    const from = progress.lastSeq;
    const to = rows[rows.length - 1].seq;
    await dataSource.transaction(async (manager) => {
      for (const table of INDEX_TABLES) {
        await manager.query(`DELETE FROM search_${table} WHERE seq > $1 AND seq <= $2`, [from, to]);
      }
      const batch = new SearchIndexBatch();
      for (const row of rows) {
        if (row.content === null) continue;
        const resource = JSON.parse(row.content) as { resourceType: string };
        indexer.extract(resource, row.seq, batch);
      }
      await batch.flush((sql, params) => manager.query(sql, params));
    });
    progress.versions += rows.length;
    progress.lastSeq = to;
    options.onBatch?.(progress);
  }
}
