import { randomUUID } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { ExportJobEntity } from '../../src/bulk-export/job/export-job.entity';
import type { OperationOutcome } from '../../src/common/operation-outcome';
import { ResourceRepository, FhirResource } from '../../src/resources/resource.repository';
import { api, TestApp, TestEnv, useTestApp, UseTestAppOptions } from './test-app';

export const KICKOFF_HEADERS = {
  Accept: 'application/fhir+json',
  Prefer: 'respond-async',
};

/** The Prefer header of a kick-off under `handling=lenient`. */
export const LENIENT = { Prefer: 'respond-async, handling=lenient' };

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

/** Polls the status URL until it stops answering 202; bounded. */
export async function pollUntilDone(
  app: INestApplication,
  statusPath: string,
  timeoutMs = 60_000,
): Promise<request.Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api(app).get(statusPath);
    if (res.status !== 202) return res;
    if (Date.now() > deadline) throw new Error(`export ${statusPath} still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Downloads one manifest file and returns its lines; fails unless it answers 200 and ends with a newline. */
export async function downloadLines(app: INestApplication, url: string): Promise<string[]> {
  const res = await downloadRaw(app, url);
  if (res.status !== 200) throw new Error(`download ${url} answered ${res.status}`);
  const text = res.body.toString('utf8');
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

/**
 * {@link useTestApp} for export tests: the app gets a BullMQ prefix of its own, so no other
 * app's worker takes its jobs, and by default the database is emptied before each test.
 */
export function useExportApp(env: TestEnv = {}, options: UseTestAppOptions = {}): TestApp {
  const queuePrefix = `test-${process.pid}-${randomUUID().slice(0, 8)}`;
  return useTestApp(
    () => ({ QUEUE_PREFIX: queuePrefix, ...(typeof env === 'function' ? env() : env) }),
    { reset: 'each', ...options },
  );
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
  const server = api(app);
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
export async function kickOff(
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
  const statusPath = await kickOff(app, path, options);
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
  let req = api(app).get(pathOf(url));
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

/**
 * Every output line of a manifest by type, files in manifest order. Each file must hold the
 * `count` the manifest gives it.
 */
export async function exportedLines(
  app: INestApplication,
  manifest: Manifest,
  type?: string,
): Promise<Map<string, string[]>> {
  const byType = new Map<string, string[]>();
  for (const entry of manifest.output.filter((o) => type === undefined || o.type === type)) {
    const lines = await downloadLines(app, entry.url);
    expect({ file: entry.url, lines: lines.length }).toEqual({
      file: entry.url,
      lines: entry.count,
    });
    byType.set(entry.type, [...(byType.get(entry.type) ?? []), ...lines]);
  }
  return byType;
}

/** The output lines of one type, files in manifest order (see {@link exportedLines}). */
export async function linesOfType(
  app: INestApplication,
  manifest: Manifest,
  type: string,
): Promise<string[]> {
  return (await exportedLines(app, manifest, type)).get(type) ?? [];
}

/** The sorted ids of the exported resources of one type. */
export async function idsOfType(
  app: INestApplication,
  manifest: Manifest,
  type: string,
): Promise<string[]> {
  return idsOfLines(await linesOfType(app, manifest, type)).sort();
}

/** The sorted ids of the exported resources, by type; a resource exported twice shows twice. */
export async function idsByType(
  app: INestApplication,
  manifest: Manifest,
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [type, lines] of await exportedLines(app, manifest)) {
    out[type] = idsOfLines(lines).sort();
  }
  return out;
}

/**
 * The OperationOutcome of a manifest whose `error` array must be one OperationOutcome file of
 * one line.
 */
export async function singleErrorOutcome(
  app: INestApplication,
  manifest: Manifest,
): Promise<OperationOutcome> {
  expect(manifest.error.map((e) => [e.type, e.count])).toEqual([['OperationOutcome', 1]]);
  const lines = await downloadLines(app, manifest.error[0].url);
  expect(lines).toHaveLength(1);
  const outcome = JSON.parse(lines[0]) as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  return outcome;
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

/** An export job's row as it is in the table now. */
export function jobRow(app: INestApplication, id: string): Promise<ExportJobEntity> {
  return app.get(DataSource).getRepository(ExportJobEntity).findOneByOrFail({ id });
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
