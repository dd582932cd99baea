import fc from 'fast-check';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { useExportApp } from '../support/export-helpers';
import {
  anyHeaders,
  bundleBodies,
  FUZZ_SEED,
  kickOffParametersBodies,
  kickOffQueries,
  resourceBodies,
  runs,
  searchQueries,
} from './hostile-arbitraries';
import { api } from '../support/test-app';

/**
 * Property-based hostile input (issue 12, item 3): generated kick-off query strings and
 * Parameters bodies, resource bodies, transaction Bundles, search query strings and headers
 * against the real app, PostgreSQL and Redis. For every one: never a 5xx, every 4xx an
 * OperationOutcome, and a refused request changes nothing. The seed is fixed, so a failure
 * reproduces; FUZZ_RUNS multiplies the cases (`npm run test:fuzz` runs 10× as many).
 */
describe('hostile input (property-based)', () => {
  // The API role: kick-offs create jobs and queue entries, but no export runs under the test.
  const t = useExportApp({ ROLE: 'api', MAX_BODY_SIZE: '256kb' }, { reset: 'once' });

  /** Rows that a request could have written. */
  async function footprint(): Promise<string> {
    const [row] = await t.app.get(DataSource).query<{ resources: string; jobs: string }[]>(
      `SELECT (SELECT count(*) FROM resource)::text AS resources,
              (SELECT count(*) FROM export_job)::text AS jobs`,
    );
    return `${row.resources} resources, ${row.jobs} export jobs`;
  }

  /** The properties every answer must have; `refused` answers must leave no trace. */
  async function expectHonest(
    send: () => request.Test,
    describeCase: string,
  ): Promise<request.Response> {
    const before = await footprint();
    const res = await send();
    const body = parseJson(res.text);
    const problem =
      res.status >= 500
        ? `answered ${res.status}`
        : res.status >= 400 && body?.resourceType !== 'OperationOutcome'
          ? `answered ${res.status} without an OperationOutcome`
          : res.status >= 400 && (await footprint()) !== before
            ? `answered ${res.status} but changed the database`
            : undefined;
    if (problem) {
      throw new Error(`${describeCase} ${problem}: ${res.text.slice(0, 500)}`);
    }
    return res;
  }

  const server = () => api(t.app);
  /** Generous: the cases run in well under a minute each; shrinking a failure takes longer. */
  const TIMEOUT = 300_000;

  it(
    'kick-off query strings',
    async () => {
      await fc.assert(
        fc.asyncProperty(kickOffQueries(), async ({ path, query, headers }) => {
          await expectHonest(
            () => server().get(`${path}?${query}`).set(headers),
            `GET ${path}?${query}`,
          );
        }),
        { seed: FUZZ_SEED, numRuns: runs(2500) },
      );
    },
    TIMEOUT,
  );

  it(
    'kick-off Parameters bodies',
    async () => {
      await fc.assert(
        fc.asyncProperty(kickOffParametersBodies(), async ({ path, body, headers }) => {
          await expectHonest(
            () => server().post(path).set(headers).send(body),
            `POST ${path} ${body.slice(0, 200)}`,
          );
        }),
        { seed: FUZZ_SEED, numRuns: runs(1500) },
      );
    },
    TIMEOUT,
  );

  it(
    'resource bodies on create and update',
    async () => {
      await fc.assert(
        fc.asyncProperty(resourceBodies(), async ({ method, path, body, contentType }) => {
          await expectHonest(
            () =>
              (method === 'POST' ? server().post(path) : server().put(path))
                .set('Content-Type', contentType)
                .send(body),
            `${method} ${path} ${body.slice(0, 200)}`,
          );
        }),
        { seed: FUZZ_SEED, numRuns: runs(2500) },
      );
    },
    TIMEOUT,
  );

  it(
    'batch and transaction Bundles',
    async () => {
      await fc.assert(
        fc.asyncProperty(bundleBodies(), async (body) => {
          await expectHonest(
            () => server().post('/').set('Content-Type', 'application/fhir+json').send(body),
            `POST / ${body.slice(0, 300)}`,
          );
        }),
        { seed: FUZZ_SEED, numRuns: runs(1500) },
      );
    },
    TIMEOUT,
  );

  it(
    'search query strings',
    async () => {
      await fc.assert(
        fc.asyncProperty(searchQueries(), async ({ path, query }) => {
          await expectHonest(() => server().get(`${path}?${query}`), `GET ${path}?${query}`);
        }),
        { seed: FUZZ_SEED, numRuns: runs(2000) },
      );
    },
    TIMEOUT,
  );

  it(
    'headers on every kind of route',
    async () => {
      await fc.assert(
        fc.asyncProperty(anyHeaders(), async ({ method, path, headers, body }) => {
          await expectHonest(
            () => {
              const req = server()[method](path).set(headers);
              return body === undefined ? req : req.send(body);
            },
            `${method.toUpperCase()} ${path} ${JSON.stringify(headers).slice(0, 300)}`,
          );
        }),
        { seed: FUZZ_SEED, numRuns: runs(1000) },
      );
    },
    TIMEOUT,
  );
});

function parseJson(text: string): { resourceType?: unknown } | undefined {
  try {
    return JSON.parse(text) as { resourceType?: unknown };
  } catch {
    return undefined;
  }
}
