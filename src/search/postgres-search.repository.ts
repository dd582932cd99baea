import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SqlParams, versionScopeSql } from '../database/resource-sql';
import { ParsedSearch } from './search-query';
import { searchConditionsSql } from './search-sql';
import { SearchPageQuery, SearchRepository, SearchRow } from './search.repository';

/** {@link SearchRepository} on PostgreSQL: the index tables joined to current versions. */
@Injectable()
export class PostgresSearchRepository extends SearchRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    super();
  }

  async search(query: SearchPageQuery): Promise<SearchRow[]> {
    const { search, after } = query;
    const params = new SqlParams();
    const where = searchFilter(search, params);
    const sort = search.sort;
    const direction = sort?.descending ? 'DESC' : 'ASC';
    const column =
      sort?.key === '_lastUpdated' ? 'r.last_updated' : sort?.key === '_id' ? 'r.id' : undefined;
    if (after) {
      const op = sort?.descending ? '<' : '>';
      const seq = `${params.add(after.seq)}::bigint`;
      if (column === undefined) where.push(`r.seq ${op} ${seq}`);
      else {
        const value =
          sort?.key === '_lastUpdated'
            ? `${params.add(after.lastUpdated)}::timestamptz`
            : params.add(after.id);
        where.push(`(${column}, r.seq) ${op} (${value}, ${seq})`);
      }
    }
    const order =
      column === undefined ? `r.seq ${direction}` : `${column} ${direction}, r.seq ${direction}`;
    const rows = await this.dataSource.query<
      { seq: string; id: string; last_updated: Date; content: string }[]
    >(
      `SELECT r.seq, r.id, r.last_updated, r.content FROM resource r WHERE ${where.join(' AND ')}
       ORDER BY ${order} LIMIT ${params.add(query.limit)}`,
      params.values,
    );
    return rows.map((row) => ({
      seq: row.seq,
      id: row.id,
      lastUpdated: row.last_updated,
      content: row.content,
    }));
  }

  async count(search: ParsedSearch): Promise<number> {
    const params = new SqlParams();
    const where = searchFilter(search, params);
    const [row] = await this.dataSource.query<{ n: string }[]>(
      `SELECT count(*)::bigint AS n FROM resource r WHERE ${where.join(' AND ')}`,
      params.values,
    );
    return Number(row.n);
  }
}

function searchFilter(search: ParsedSearch, params: SqlParams): string[] {
  return [
    `r.type = ${params.add(search.type)}`,
    versionScopeSql('r', {}),
    ...searchConditionsSql(search, 'r', params, {}).map((c) => `(${c})`),
  ];
}
