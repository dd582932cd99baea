import { setTimeout as sleep } from 'node:timers/promises';

export interface ManifestFile {
  type: string;
  url: string;
  count?: number;
}

export interface Manifest {
  transactionTime: string;
  request: string;
  output: ManifestFile[];
  error: ManifestFile[];
}

/** The `Authorization` header value to send, fresh for each call (tokens expire). */
export type Authorization = () => Promise<string>;

export type KickoffResult =
  { accepted: true; statusUrl: string } | { accepted: false; status: number; body: string };

/** Bulk Data IG "Bulk Data Kick-off Request" with the headers the spec requires. */
export async function kickOff(url: string, auth: Authorization): Promise<KickoffResult> {
  const response = await fetch(url, {
    headers: {
      Accept: 'application/fhir+json',
      Prefer: 'respond-async',
      Authorization: await auth(),
    },
  });
  const body = await response.text();
  const location = response.headers.get('content-location');
  if (response.status === 202 && location) return { accepted: true, statusUrl: location };
  return { accepted: false, status: response.status, body };
}

/** Polls the status URL until the manifest (200) or a failure; throws past the deadline. */
export async function waitForManifest(
  statusUrl: string,
  auth: Authorization,
  deadline: number,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<Manifest> {
  for (;;) {
    signal?.throwIfAborted();
    const response = await fetch(statusUrl, {
      signal,
      headers: { Authorization: await auth() },
    });
    const body = await response.text();
    if (response.status === 200) return JSON.parse(body) as Manifest;
    if (response.status !== 202) {
      throw new Error(`export status ${response.status}: ${body.slice(0, 2000)}`);
    }
    if (Date.now() > deadline) throw new Error(`export not complete by the deadline: ${statusUrl}`);
    await sleep(intervalMs);
  }
}

export interface FileCheck {
  type: string;
  url: string;
  manifestCount?: number;
  lines: number;
  bytes: number;
}

export interface VerifyResult {
  files: FileCheck[];
  /** Ids seen per resource type across all files. */
  idsByType: Map<string, Set<string>>;
  problems: string[];
  bytes: number;
  lines: number;
}

/**
 * Downloads every output file of the manifest and checks it: the line count equals the
 * manifest's count, every line parses as a resource of the file's type, no id appears twice.
 */
export async function downloadAndCheck(
  manifest: Manifest,
  auth: Authorization,
): Promise<VerifyResult> {
  const idsByType = new Map<string, Set<string>>();
  const problems: string[] = [];
  const files: FileCheck[] = [];
  for (const file of manifest.output) {
    const response = await fetch(file.url, {
      headers: { 'Accept-Encoding': 'identity', Authorization: await auth() },
    });
    if (response.status !== 200 || !response.body) {
      problems.push(`${file.url}: HTTP ${response.status}`);
      continue;
    }
    const ids = idsByType.get(file.type) ?? new Set<string>();
    idsByType.set(file.type, ids);
    let lines = 0;
    let bytes = 0;
    let rest: Buffer = Buffer.alloc(0);
    const onLine = (line: Buffer) => {
      lines++;
      try {
        const resource = JSON.parse(line.toString('utf8')) as {
          resourceType?: string;
          id?: string;
        };
        if (resource.resourceType !== file.type) {
          problems.push(`${file.url} line ${lines}: resourceType ${resource.resourceType}`);
        } else if (typeof resource.id !== 'string') {
          problems.push(`${file.url} line ${lines}: no id`);
        } else if (ids.has(resource.id)) {
          problems.push(`${file.url} line ${lines}: ${file.type}/${resource.id} exported twice`);
        } else {
          ids.add(resource.id);
        }
      } catch {
        problems.push(`${file.url} line ${lines}: does not parse as JSON`);
      }
    };
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      let data = rest.length ? Buffer.concat([rest, chunk]) : Buffer.from(chunk);
      let start = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
        onLine(data.subarray(start, nl));
        start = nl + 1;
      }
      data = data.subarray(start);
      rest = Buffer.from(data);
    }
    if (rest.length > 0) problems.push(`${file.url}: last line has no newline`);
    if (file.count !== undefined && file.count !== lines) {
      problems.push(`${file.url}: ${lines} lines, manifest says ${file.count}`);
    }
    files.push({ type: file.type, url: file.url, manifestCount: file.count, lines, bytes });
  }
  if (problems.length > 20) problems.splice(20, problems.length - 20, '… more problems');
  return {
    files,
    idsByType,
    problems,
    bytes: files.reduce((n, f) => n + f.bytes, 0),
    lines: files.reduce((n, f) => n + f.lines, 0),
  };
}

/** Compares exported ids per type with what the database says the export should contain. */
export function compareIds(
  exported: Map<string, Set<string>>,
  expected: Map<string, Set<string>>,
): string[] {
  const problems: string[] = [];
  for (const type of new Set([...exported.keys(), ...expected.keys()])) {
    const got = exported.get(type) ?? new Set<string>();
    const want = expected.get(type) ?? new Set<string>();
    let missing = 0;
    for (const id of want) if (!got.has(id)) missing++;
    let extra = 0;
    for (const id of got) if (!want.has(id)) extra++;
    if (missing || extra) {
      problems.push(`${type}: ${missing} missing, ${extra} not expected (of ${want.size})`);
    }
  }
  return problems;
}
