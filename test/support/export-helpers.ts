import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { ResourceRepository, FhirResource } from '../../src/resources/resource.repository';

export const KICKOFF_HEADERS = {
  Accept: 'application/fhir+json',
  Prefer: 'respond-async',
};

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
  deleted: unknown[];
}

/** Path part of an absolute URL the server handed out, for supertest. */
export function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** Kicks off an export and returns the status URL path. */
export async function kickOff(app: INestApplication, path: string): Promise<string> {
  const res = await request(app.getHttpServer()).get(path).set(KICKOFF_HEADERS);
  if (res.status !== 202) {
    throw new Error(`kick-off ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return pathOf(res.headers['content-location']);
}

/** Polls the status URL until it stops answering 202; bounded. */
export async function pollUntilDone(
  app: INestApplication,
  statusPath: string,
  timeoutMs = 60_000,
): Promise<request.Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(app.getHttpServer()).get(statusPath);
    if (res.status !== 202) return res;
    if (Date.now() > deadline) throw new Error(`export ${statusPath} still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Downloads one manifest file and returns its lines. */
export async function downloadLines(app: INestApplication, url: string): Promise<string[]> {
  const res = await request(app.getHttpServer())
    .get(pathOf(url))
    .buffer(true)
    .parse((response, callback) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => callback(null, Buffer.concat(chunks).toString('utf8')));
    });
  if (res.status !== 200) throw new Error(`download ${url} answered ${res.status}`);
  const text = res.body as string;
  if (!text.endsWith('\n')) throw new Error(`file ${url} does not end with a newline`);
  return text.slice(0, -1).split('\n');
}

/** Stores resources through the store's own write path, one transaction. */
export async function store(app: INestApplication, resources: FhirResource[]): Promise<FhirResource[]> {
  const repository = app.get(ResourceRepository);
  return repository.inTransaction(async (session) => {
    const stored = [];
    for (const resource of resources) {
      const row = resource.id
        ? (await session.update(resource.resourceType, resource.id, resource)).stored
        : await session.create(resource);
      stored.push(JSON.parse(row.content ?? 'null') as FhirResource);
    }
    return stored;
  });
}

/** Empties the resource store and the export jobs, so a test sees only its own data. */
export async function resetDatabase(app: INestApplication): Promise<void> {
  await app.get(DataSource).query('TRUNCATE resource, export_job');
}
