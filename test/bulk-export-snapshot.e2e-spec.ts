import { DataSource } from 'typeorm';
import {
  ExportPageQuery,
  ExportReadRepository,
} from '../src/bulk-export/read/export-read.repository';
import {
  FhirResource,
  ResourceRepository,
  ResourceSession,
} from '../src/resources/resource.repository';
import {
  exportedLines,
  exportIdOf,
  idsOfLines,
  kickOff,
  Manifest,
  pollUntilDone,
  store,
  useExportApp,
} from './support/export-helpers';
import { holdPageRead, within } from './support/export-spies';
import { observation, patient } from './support/factories';
import { api } from './support/test-app';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class RolledBack extends Error {}

const sorted = (lines: Iterable<string>) => [...lines].sort();

describe('$export snapshot: each resource once, as of transaction_time', () => {
  // Small pages, so that the runner reads each type in several keyset pages.
  const t = useExportApp({ EXPORT_PAGE_SIZE: '3' });
  let repo: ResourceRepository;
  let reads: ExportReadRepository;
  let db: DataSource;
  /** Run after each test, so that a failing test does not leave the runner held or a write open. */
  let cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(() => {
    repo = t.app.get(ResourceRepository);
    reads = t.app.get(ExportReadRepository);
    db = t.app.get(DataSource);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    cleanups = [];
  });

  /** Current, not deleted versions of one type: id → stored JSON. */
  async function current(type: string): Promise<Map<string, string>> {
    const rows = await db.query<{ id: string; content: string }[]>(
      `SELECT id, content FROM resource WHERE type = $1 AND superseded_at IS NULL AND NOT deleted`,
      [type],
    );
    return new Map(rows.map((r) => [r.id, r.content]));
  }

  async function remove(type: string, id: string): Promise<void> {
    const deleted = await repo.inTransaction((s) => s.delete(type, id));
    expect(deleted?.deleted).toBe(true);
  }

  async function completed(statusPath: string): Promise<Manifest> {
    const res = await pollUntilDone(t.app, statusPath);
    expect(res.status).toBe(200);
    return res.body as Manifest;
  }

  async function transactionTimeOf(statusPath: string): Promise<Date> {
    const [row] = await db.query<{ transaction_time: Date }[]>(
      'SELECT transaction_time FROM export_job WHERE id = $1',
      [exportIdOf(statusPath)],
    );
    return row.transaction_time;
  }

  /** Holds the runner before the first page read that `match` accepts, until released. */
  function holdExportPage(match: (query: ExportPageQuery) => boolean) {
    const held = holdPageRead(t.app, match);
    cleanups.push(() => {
      held.release();
      return Promise.resolve();
    });
    return held;
  }

  /**
   * Runs `work` in a store transaction and keeps the transaction open after it: `written`
   * resolves with the work's result while nothing is committed yet.
   */
  function openWrite<T>(work: (session: ResourceSession) => Promise<T>) {
    const written = deferred<T>();
    const end = deferred<'commit' | 'rollback'>();
    const done = repo
      .inTransaction(async (session) => {
        const result = await work(session);
        written.resolve(result);
        if ((await end.promise) === 'rollback') throw new RolledBack();
        return result;
      })
      .then(
        () => undefined,
        (error: unknown) => {
          written.reject(error);
          if (!(error instanceof RolledBack)) throw error;
        },
      );
    cleanups.push(() => {
      end.resolve('rollback');
      return done;
    });
    return {
      written: written.promise,
      commit: async () => {
        end.resolve('commit');
        await done;
      },
      rollback: async () => {
        end.resolve('rollback');
        await done;
      },
    };
  }

  /** Waits until the database clock is past `at` by more than the 1 ms the kick-off steps back. */
  async function clockPast(at: Date): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const [row] = await db.query<{ past: boolean }[]>(
        `SELECT clock_timestamp() > $1::timestamptz + interval '3 milliseconds' AS past`,
        [at],
      );
      if (row.past) return;
      await sleep(2);
    }
    throw new Error(`the database clock does not pass ${at.toISOString()}`);
  }

  /**
   * Opens a write that updates `changed` and creates a Patient, waits until the database clock
   * is past its stamp, and kicks off a Patient export while the write is still open.
   */
  async function kickOffDuringOpenWrite(changed: FhirResource) {
    const write = openWrite(async (session) => ({
      updated: (await session.update('Patient', changed.id!, { ...changed, active: true })).stored,
      created: await session.create(patient()),
    }));
    const { updated, created } = await within(write.written, 10_000, 'the open write');
    await clockPast(updated.lastUpdated);
    const statusPath = await kickOff(t.app, '/$export?_type=Patient');
    return { write, updated, created, statusPath };
  }

  /** Polls the status URL (each answer must be 202) until X-Progress matches. */
  async function progressMatching(statusPath: string, pattern: RegExp): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const res = await api(t.app).get(statusPath);
      expect(res.status).toBe(202);
      const progress = String(res.headers['x-progress']);
      if (pattern.test(progress)) return progress;
      if (Date.now() > deadline) throw new Error(`X-Progress stayed ${progress}`);
      await sleep(50);
    }
  }

  it('exports the version current at transaction_time once per resource while resources change between its pages', async () => {
    const patients = await store(
      t.app,
      Array.from({ length: 8 }, () => patient()),
    );
    // Updated before kick-off: only this newer version belongs in the export.
    await store(t.app, [{ ...patients[1], active: true }]);
    const observations = await store(
      t.app,
      patients.map((p) => observation(`Patient/${p.id}`)),
    );
    const before = { Observation: await current('Observation'), Patient: await current('Patient') };

    // Observation is exported first (types go in order): hold it after its first page, so that
    // some changed resources were already exported and others are still ahead of the cursor,
    // and every Patient is still ahead.
    const hold = holdExportPage((q) => q.type === 'Observation' && q.afterSeq !== '0');
    const statusPath = await kickOff(t.app, '/$export?_type=Observation,Patient');
    await within(hold.reached, 20_000, 'the runner to ask for its second Observation page');
    // One Observation page is out, the second is asked for and held.
    expect(hold.spy.mock.calls.filter(([q]) => q.type === 'Observation')).toHaveLength(2);

    const [o1, o2, , , , o6, o7] = observations;
    const [p1, p2, p3] = patients;
    await store(t.app, [{ ...o1, status: 'amended' }]); // on the exported first page
    await store(t.app, [{ ...o6, status: 'amended' }]); // ahead of the cursor
    await store(t.app, [{ ...o6, status: 'corrected' }]);
    await remove('Observation', o2.id!);
    await remove('Observation', o7.id!);
    const [o9] = await store(t.app, [observation(`Patient/${p1.id}`)]);
    await store(t.app, [
      { ...p1, active: false },
      { ...p2, active: false },
    ]);
    await remove('Patient', p3.id!);
    const [p9] = await store(t.app, [patient()]);
    hold.release();

    const manifest = await completed(statusPath);
    const exported = await exportedLines(t.app, manifest);
    expect(sorted(exported.get('Observation') ?? [])).toEqual(sorted(before.Observation.values()));
    expect(sorted(exported.get('Patient') ?? [])).toEqual(sorted(before.Patient.values()));
    expect(idsOfLines(exported.get('Observation')!)).not.toContain(o9.id);
    expect(idsOfLines(exported.get('Patient')!)).not.toContain(p9.id);

    // What changed during the first export is exactly what a _since export picks up next.
    const since = await completed(
      await kickOff(t.app, `/$export?_type=Observation,Patient&_since=${manifest.transactionTime}`),
    );
    const after = { Observation: await current('Observation'), Patient: await current('Patient') };
    const changes = await exportedLines(t.app, since);
    expect(sorted(changes.get('Observation') ?? [])).toEqual(
      sorted([o1, o6, o9].map((o) => after.Observation.get(o.id!)!)),
    );
    expect(sorted(changes.get('Patient') ?? [])).toEqual(
      sorted([p1, p2, p9].map((p) => after.Patient.get(p.id!)!)),
    );
  });

  it('waits for a write stamped before transaction_time that commits after kick-off, and a _since export then holds exactly the later writes', async () => {
    // Either read: binary COPY pages, or rows.
    const pages = [jest.spyOn(reads, 'pageNdjson'), jest.spyOn(reads, 'page')];
    const [, changed, later, doomed] = await store(t.app, [
      patient(),
      patient(),
      patient(),
      patient(),
    ]);
    const oldVersionOfChanged = (await current('Patient')).get(changed.id!)!;

    const { write, updated, created, statusPath } = await kickOffDuringOpenWrite(changed);
    const transactionTime = await transactionTimeOf(statusPath);
    // The precondition of the classic miss: stamped at or before transaction_time, not committed.
    expect(updated.lastUpdated.getTime()).toBeLessThanOrEqual(transactionTime.getTime());
    expect(created.lastUpdated.getTime()).toBeLessThanOrEqual(transactionTime.getTime());

    expect(await progressMatching(statusPath, /waiting/)).toMatch(/in-flight writes/);
    for (const read of pages) expect(read).not.toHaveBeenCalled();
    expect((await api(t.app).get(statusPath)).status).toBe(202);

    await write.commit();
    const first = await completed(statusPath);
    expect(first.transactionTime).toBe(transactionTime.toISOString());
    const firstLines = (await exportedLines(t.app, first)).get('Patient') ?? [];
    const atT = await current('Patient');
    expect(sorted(firstLines)).toEqual(sorted(atT.values()));
    expect(firstLines).toContain(updated.content);
    expect(firstLines).toContain(created.content);
    expect(firstLines).not.toContain(oldVersionOfChanged);

    await store(t.app, [{ ...later, active: false }]);
    await remove('Patient', doomed.id!);
    const [fresh] = await store(t.app, [patient()]);

    const second = await completed(
      await kickOff(t.app, `/$export?_type=Patient&_since=${first.transactionTime}`),
    );
    const secondLines = (await exportedLines(t.app, second)).get('Patient') ?? [];
    const now = await current('Patient');
    expect(sorted(secondLines)).toEqual(sorted([later.id!, fresh.id!].map((id) => now.get(id)!)));

    // Across the two exports: every resource version current at the second transaction_time
    // comes out exactly once, and nothing comes out twice.
    expect(firstLines.filter((line) => secondLines.includes(line))).toEqual([]);
    const both = [...firstLines, ...secondLines];
    for (const [id, content] of now) {
      expect([id, both.filter((line) => line === content).length]).toEqual([id, 1]);
    }
    expect(new Set(idsOfLines(both))).toEqual(new Set([...now.keys(), doomed.id!]));
  });

  it('waits for a write open across kick-off that then rolls back, and exports as if it never happened', async () => {
    // Either read: binary COPY pages, or rows.
    const pages = [jest.spyOn(reads, 'pageNdjson'), jest.spyOn(reads, 'page')];
    const [, changed] = await store(t.app, [patient(), patient(), patient()]);
    const before = await current('Patient');

    const { write, updated, created, statusPath } = await kickOffDuringOpenWrite(changed);
    expect(updated.lastUpdated.getTime()).toBeLessThanOrEqual(
      (await transactionTimeOf(statusPath)).getTime(),
    );
    await progressMatching(statusPath, /waiting/);
    for (const read of pages) expect(read).not.toHaveBeenCalled();

    await write.rollback();
    const first = await completed(statusPath);
    const lines = (await exportedLines(t.app, first)).get('Patient') ?? [];
    expect(sorted(lines)).toEqual(sorted(before.values()));
    expect(lines).not.toContain(updated.content);
    expect(idsOfLines(lines)).not.toContain(created.id);

    const second = await completed(
      await kickOff(t.app, `/$export?_type=Patient&_since=${first.transactionTime}`),
    );
    expect(second.output).toEqual([]);
  });
});

describe('$export waiting for writes open at kick-off', () => {
  const t = useExportApp({ EXPORT_MAX_WRITE_WAIT_MS: '300' });

  it('fails the job with a 500 `timeout` OperationOutcome when a transaction stays open too long, rather than answering 202 forever', async () => {
    const release = deferred();
    const opened = deferred();
    const write = t.app.get(ResourceRepository).inTransaction(async (session) => {
      await session.create(patient());
      opened.resolve();
      await release.promise;
    });
    try {
      await opened.promise;
      const statusPath = await kickOff(t.app, '/$export?_type=Patient');
      const res = await pollUntilDone(t.app, statusPath, 30_000);
      expect(res.status).toBe(500);
      const outcome = JSON.parse(res.text) as { issue: { code: string; diagnostics: string }[] };
      expect(outcome.issue[0]).toMatchObject({
        code: 'timeout',
        diagnostics: expect.stringMatching(/did not end within 300 ms/) as unknown,
      });
    } finally {
      release.resolve();
      await write;
    }
  });
});
