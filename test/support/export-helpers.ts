import { randomUUID } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { ResourceRepository, FhirResource } from '../../src/resources/resource.repository';
import { bootTestApp, TestApp } from './test-app';

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
export async function store(
  app: INestApplication,
  resources: FhirResource[],
): Promise<FhirResource[]> {
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
  await app
    .get(DataSource)
    .query(
      'TRUNCATE resource, export_job, search_token, search_string, search_date, search_reference, search_quantity, search_number, search_uri',
    );
}

/** Boots the app with its own BullMQ prefix, so no other app's worker takes its jobs. */
export async function bootExportApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  return bootTestApp({
    QUEUE_PREFIX: `test-${process.pid}-${randomUUID().slice(0, 8)}`,
    ...overrides,
  });
}

export interface KickoffOptions {
  method?: 'GET' | 'POST';
  /** Replaces the default kick-off headers; `undefined` drops a header. */
  headers?: Record<string, string | undefined>;
  query?: Record<string, string | string[]>;
  /** POST body (a Parameters resource, or anything a test wants to send). */
  body?: unknown;
}

/** Sends a kick-off request and returns the raw response, whatever its status. */
export async function kickOffResponse(
  app: INestApplication,
  path: string,
  options: KickoffOptions = {},
): Promise<request.Response> {
  const server = request(app.getHttpServer());
  let req = options.method === 'POST' ? server.post(path) : server.get(path);
  const headers = { ...KICKOFF_HEADERS, ...options.headers };
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) req = req.set(name, value);
  }
  if (options.query) req = req.query(options.query);
  if (options.body !== undefined) {
    req = req.set('Content-Type', 'application/fhir+json').send(JSON.stringify(options.body));
  }
  return req;
}

/** Kicks off an export that must be accepted; returns the status URL path. */
export async function kickOffWith(
  app: INestApplication,
  path: string,
  options: KickoffOptions = {},
): Promise<string> {
  const res = await kickOffResponse(app, path, options);
  if (res.status !== 202) {
    throw new Error(`kick-off ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return pathOf(res.headers['content-location']);
}

/** Runs an export to completion and returns its manifest. */
export async function exportManifest(
  app: INestApplication,
  path: string,
  options: KickoffOptions = {},
): Promise<{ statusPath: string; manifest: Manifest }> {
  const statusPath = await kickOffWith(app, path, options);
  const res = await pollUntilDone(app, statusPath);
  if (res.status !== 200) {
    throw new Error(`export ${statusPath} ended with ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return { statusPath, manifest: res.body as Manifest };
}

/** The export id at the end of a status path. */
export function exportIdOf(statusPath: string): string {
  return statusPath.split('/').pop() as string;
}

export interface OutcomeExpectation {
  /** The header or parameter the issue must name in `expression`. */
  expression?: string;
  /** Text the diagnostics must contain (e.g. the bad value). */
  mentions?: string[];
}

/** Asserts an error response: the status, a FHIR OperationOutcome body, and what it names. */
export function expectOperationOutcome(
  res: request.Response,
  status: number,
  expected: OutcomeExpectation = {},
): void {
  const body = parseBody(res) as {
    resourceType?: string;
    issue?: { severity: string; code: string; diagnostics?: string; expression?: string[] }[];
  };
  expect({ status: res.status, resourceType: body.resourceType }).toEqual({
    status,
    resourceType: 'OperationOutcome',
  });
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const issue = body.issue?.[0];
  expect(issue?.severity).toMatch(/^(error|fatal)$/);
  if (expected.expression) expect(issue?.expression).toContain(expected.expression);
  for (const text of expected.mentions ?? []) expect(issue?.diagnostics).toContain(text);
}

/** The JSON body, also when supertest did not parse it (application/fhir+json). */
export function parseBody(res: request.Response): unknown {
  if (res.body && typeof res.body === 'object' && Object.keys(res.body as object).length > 0) {
    return res.body;
  }
  return res.text ? (JSON.parse(res.text) as unknown) : undefined;
}

export interface RawDownload {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

/** Downloads one file through the server: status, headers and body bytes (inflated if gzip). */
export async function downloadRaw(
  app: INestApplication,
  url: string,
  headers: Record<string, string> = {},
): Promise<RawDownload> {
  let req = request(app.getHttpServer()).get(pathOf(url));
  for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
  const res = await req.buffer(true).parse((response, callback) => {
    const chunks: Buffer[] = [];
    response.on('data', (c: Buffer) => chunks.push(c));
    response.on('end', () => callback(null, Buffer.concat(chunks)));
  });
  return {
    status: res.status,
    headers: res.headers,
    body: res.body as Buffer,
  };
}

/** Splits NDJSON text into its lines; fails unless every line ends with a newline. */
export function ndjsonLines(text: string): string[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error('NDJSON does not end with a newline');
  return text.slice(0, -1).split('\n');
}

/** `id` of every line, each parsed as a complete JSON resource. */
export function idsOfLines(lines: string[]): string[] {
  return lines.map((line) => (JSON.parse(line) as { id: string }).id);
}

/** Current, not deleted content of the store by type, in seq order (what a full export must equal). */
export async function currentContentByType(app: INestApplication): Promise<Map<string, string[]>> {
  const rows = await app
    .get(DataSource)
    .query<{ type: string; content: string }[]>(
      `SELECT type, content FROM resource WHERE NOT deleted AND superseded_at IS NULL ORDER BY seq`,
    );
  const byType = new Map<string, string[]>();
  for (const row of rows) byType.set(row.type, [...(byType.get(row.type) ?? []), row.content]);
  return byType;
}

export async function exportJobCount(app: INestApplication): Promise<number> {
  const [row] = await app
    .get(DataSource)
    .query<{ n: number }[]>('SELECT count(*)::int AS n FROM export_job');
  return row.n;
}

/** A promise a test resolves by hand, to hold a running export at a known point. */
export class Gate {
  readonly opened: Promise<void>;
  open!: () => void;

  constructor() {
    this.opened = new Promise<void>((resolve) => {
      this.open = resolve;
    });
  }
}

/** Polls `check` until it returns true; bounded, for outcomes that arrive asynchronously. */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
