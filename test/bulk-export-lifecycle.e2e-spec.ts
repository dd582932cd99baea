import http from 'node:http';
import { AddressInfo } from 'node:net';
import { BlockBlobClient, RestError } from '@azure/storage-blob';
import { ExportJobService } from '../src/bulk-export/job/export-job.service';
import { ExportRunner, RunEnd } from '../src/bulk-export/processor/export.runner';
import { RotatingNdjsonWriter } from '../src/bulk-export/ndjson/rotating-ndjson.writer';
import { listBlobNames } from './support/azurite';
import {
  downloadRaw,
  eventually,
  expectOperationOutcome,
  exportIdOf,
  exportJobCount,
  exportManifest,
  Gate,
  jobRow,
  kickOff,
  kickOffResponse,
  pathOf,
  pollUntilDone,
  store,
  useExportApp,
} from './support/export-helpers';
import { paddedPatients } from './support/export-factories';
import { checkpointsSaved, holdPageRead, recordRuns } from './support/export-spies';
import { api } from './support/test-app';

/** Counts the NDJSON chunks (a page each) every export writer is given. */
function countWrites(): () => number {
  const writes = jest.spyOn(RotatingNdjsonWriter.prototype, 'write');
  return () => writes.mock.calls.length;
}

describe('$export job lifecycle', () => {
  const t = useExportApp({ EXPORT_PAGE_SIZE: '5', EXPORT_CHECKPOINT_MB: '0.001' });

  describe('dedupe of identical kick-offs', () => {
    it('gives five concurrent identical kick-offs one job and one Content-Location', async () => {
      await store(t.app, paddedPatients(3));
      const held = holdPageRead(t.app, 1);
      let location = '';
      try {
        const responses = await Promise.all(
          Array.from({ length: 5 }, () =>
            kickOffResponse(t.app, '/$export', { query: { _type: 'Patient' } }),
          ),
        );
        expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
        const locations = new Set(responses.map((r) => pathOf(r.headers['content-location'])));
        expect(locations.size).toBe(1);
        location = [...locations][0];
        expect(await exportJobCount(t.app)).toBe(1);

        // The same request as a POST Parameters body joins the same job...
        const viaPost = await kickOffResponse(t.app, '/$export', {
          method: 'POST',
          body: {
            resourceType: 'Parameters',
            parameter: [{ name: '_type', valueString: 'Patient' }],
          },
        });
        expect(pathOf(viaPost.headers['content-location'])).toBe(location);

        // ...a different request gets a job of its own.
        const other = await kickOffResponse(t.app, '/$export', {
          query: { _type: 'Patient,Observation' },
        });
        expect(other.status).toBe(202);
        expect(pathOf(other.headers['content-location'])).not.toBe(location);
        expect(await exportJobCount(t.app)).toBe(2);
      } finally {
        held.release();
      }
      expect((await pollUntilDone(t.app, location)).status).toBe(200);
    });

    it('starts a new job for an identical kick-off once the first one has completed', async () => {
      await store(t.app, paddedPatients(1));
      const first = await exportManifest(t.app, '/$export', { query: { _type: 'Patient' } });
      const second = await kickOff(t.app, '/$export', { query: { _type: 'Patient' } });
      expect(second).not.toBe(first.statusPath);
      expect(await exportJobCount(t.app)).toBe(2);
      expect((await pollUntilDone(t.app, second)).status).toBe(200);
    });
  });

  describe('status while running', () => {
    it('answers 202 with a short X-Progress percentage and an integer Retry-After', async () => {
      await store(t.app, paddedPatients(30));
      // The runner reads page 3 while it writes page 2: holding the read of page 3 and waiting
      // for the second checkpoint leaves it stopped with exactly pages 1 and 2 durable.
      const held = holdPageRead(t.app, 3);
      const twoPagesDurable = checkpointsSaved(t.app, 2);
      try {
        const statusPath = await kickOff(t.app, '/$export', { query: { _type: 'Patient' } });
        await held.reached;
        await twoPagesDurable;
        const res = await api(t.app).get(statusPath);

        expect(res.status).toBe(202);
        const progress = res.headers['x-progress'];
        expect(progress.length).toBeLessThan(100);
        // Two pages of five out of thirty are durable.
        expect(progress).toMatch(/^33%/);
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
        expect(res.text).toBe('');
      } finally {
        held.release();
      }
    });
  });

  describe('cancel (DELETE)', () => {
    it.each([
      ['its own container', {}],
      ['a _container folder', { _container: 'cancel-exports' }],
    ])(
      'cancels a running export in %s: 202, then 404 everywhere, and its blobs are gone',
      async (_label, query) => {
        await store(t.app, paddedPatients(30));
        const runs = recordRuns(t.app);
        // The runner reads page 3 ahead while it writes page 2. Holding that read and waiting for
        // page 2's checkpoint leaves the run idle, two pages durable, with one read in flight:
        // the DELETE lands at a known point, and the run must then write nothing more.
        const held = holdPageRead(t.app, 3);
        const twoPagesDurable = checkpointsSaved(t.app, 2);
        const writes = countWrites();
        let statusPath = '';
        try {
          statusPath = await kickOff(t.app, '/$export', {
            query: { _type: 'Patient', ...query },
          });
          await held.reached;
          await twoPagesDurable;
        } finally {
          // Released only after the DELETE below, unless kick-off itself failed.
          if (!statusPath) held.release();
        }
        const id = exportIdOf(statusPath);
        const { location } = await jobRow(t.app, id);
        expect(await listBlobNames(location.container, location.prefix || undefined)).toEqual([
          `${location.prefix}Patient-1.ndjson`,
        ]);

        expect(writes()).toBe(2);

        const cancel = await api(t.app).delete(statusPath);
        held.release();
        expect(cancel.status).toBe(202);
        await Promise.all(runs);

        // The page read ahead before the cancel is dropped: nothing is written after the DELETE,
        // and no page after it is read.
        expect(writes()).toBe(2);
        expect(held.calls()).toBe(3);
        expectOperationOutcome(await api(t.app).get(statusPath), 404);
        const file = await downloadRaw(t.app, `http://x${statusPath}/Patient-1.ndjson`);
        expect(file.status).toBe(404);
        expectOperationOutcome(await api(t.app).delete(statusPath), 404);
        expect(await listBlobNames(location.container, location.prefix || undefined)).toEqual([]);
      },
    );

    it('discards a completed export: 202, its files deleted, then 404', async () => {
      await store(t.app, paddedPatients(2));
      const { statusPath, manifest } = await exportManifest(t.app, '/$export', {
        query: { _type: 'Patient' },
      });
      const { location } = await jobRow(t.app, exportIdOf(statusPath));
      expect(await listBlobNames(location.container)).toEqual(['Patient-1.ndjson']);

      expect((await api(t.app).delete(statusPath)).status).toBe(202);

      expect(await listBlobNames(location.container)).toEqual([]);
      expectOperationOutcome(await api(t.app).get(statusPath), 404);
      expect((await downloadRaw(t.app, manifest.output[0].url)).status).toBe(404);
    });

    it('deletes the files of an export that completes while its DELETE is being handled', async () => {
      await store(t.app, paddedPatients(3));
      const runs = recordRuns(t.app);
      // Three Patients fit one short page, after which the runner reads no empty page: it is
      // held at complete() instead, its files written and the job row still running.
      const jobs = t.app.get(ExportJobService);
      const reached = new Gate();
      const release = new Gate();
      const completed = new Gate();
      const complete = jobs.complete.bind(jobs);
      jest.spyOn(jobs, 'complete').mockImplementation(async (...args) => {
        reached.open();
        await release.opened;
        const done = await complete(...args);
        completed.open();
        return done;
      });
      const statusPath = await kickOff(t.app, '/$export', { query: { _type: 'Patient' } });
      await reached.opened;
      const { location } = await jobRow(t.app, exportIdOf(statusPath));
      expect(await listBlobNames(location.container)).toEqual(['Patient-1.ndjson']);

      // The DELETE reads the job while it runs; the run completes before the DELETE marks it.
      const find = jobs.find.bind(jobs);
      jest.spyOn(jobs, 'find').mockImplementationOnce(async (id: string) => {
        const job = await find(id);
        release.open();
        await completed.opened;
        return job;
      });
      const cancel = await api(t.app).delete(statusPath);
      await Promise.all(runs);

      expect(cancel.status).toBe(202);
      expectOperationOutcome(await api(t.app).get(statusPath), 404);
      expect(await listBlobNames(location.container)).toEqual([]);
    });

    it('cancels a queued export before it writes anything', async () => {
      await store(t.app, paddedPatients(2));
      const runner = t.app.get(ExportRunner);
      const original = runner.run.bind(runner);
      const gate = new Gate();
      const started = new Gate();
      let run: Promise<RunEnd> | undefined;
      jest.spyOn(runner, 'run').mockImplementation((id: string) => {
        started.open();
        run = gate.opened.then(() => original(id));
        return run;
      });
      const statusPath = await kickOff(t.app, '/$export', { query: { _type: 'Patient' } });
      await started.opened;
      const { location } = await jobRow(t.app, exportIdOf(statusPath));

      const cancel = await api(t.app).delete(statusPath);
      gate.open();
      await run;

      expect(cancel.status).toBe(202);
      expectOperationOutcome(await api(t.app).get(statusPath), 404);
      expect(await listBlobNames(location.container)).toEqual([]);
    });
  });

  describe('storage failure', () => {
    it('fails the job at once with a 500 OperationOutcome naming the storage when it refuses every commit for good (403)', async () => {
      await store(t.app, paddedPatients(12));
      jest
        .spyOn(BlockBlobClient.prototype, 'commitBlockList')
        .mockRejectedValue(
          new RestError('injected refusal', { statusCode: 403, code: 'AuthorizationFailure' }),
        );

      const statusPath = await kickOff(t.app, '/$export', { query: { _type: 'Patient' } });
      const res = await pollUntilDone(t.app, statusPath);

      expectOperationOutcome(res, 500, {
        mentions: ['export storage refused a request', '403 AuthorizationFailure'],
      });
      const file = await downloadRaw(t.app, `http://x${statusPath}/Patient-1.ndjson`);
      expect(file.status).toBe(404);
    });
  });
});

describe('$export when the storage service is down (STORAGE_MAX_TRIES=2)', () => {
  let storage: http.Server;
  let requests = 0;

  beforeAll(async () => {
    // A storage endpoint that answers every request with 503 Server Busy.
    storage = http.createServer((req, res) => {
      requests += 1;
      req.resume();
      res.writeHead(503, { 'Content-Type': 'application/xml', 'x-ms-error-code': 'ServerBusy' });
      res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code></Error>');
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
  });
  const t = useExportApp(() => ({
    AZURE_STORAGE_CONNECTION_STRING:
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
      'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
      `BlobEndpoint=http://127.0.0.1:${(storage.address() as AddressInfo).port}/devstoreaccount1;`,
    STORAGE_MAX_TRIES: '2',
    STORAGE_RETRY_DELAY_MS: '10',
    EXPORT_RETRY_FOR_MS: '600',
    EXPORT_RETRY_DELAY_MS: '100',
  }));
  afterAll(async () => {
    await new Promise((resolve) => storage.close(resolve));
  });

  it('retries each storage request STORAGE_MAX_TRIES times and the run within EXPORT_RETRY_FOR_MS, then fails the job with a 500 OperationOutcome naming the storage', async () => {
    await store(t.app, paddedPatients(3));
    requests = 0;

    const statusPath = await kickOff(t.app, '/$export', { query: { _type: 'Patient' } });
    await eventually(
      async () => (await api(t.app).get(statusPath)).status !== 202,
      'the export to end',
    );
    const res = await api(t.app).get(statusPath);

    expectOperationOutcome(res, 500, {
      mentions: ['export storage was unavailable for longer than 0.6 s', '503 ServerBusy'],
    });
    // Each run's first storage call (creating the container) was tried twice, and nothing after
    // it ran; the runs were retried from the checkpoint until the window ran out.
    expect(requests % 2).toBe(0);
    expect(requests).toBeGreaterThan(2);
  });
});
