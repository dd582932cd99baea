import { INestApplication } from '@nestjs/common';
import { ExportJobService } from '../../src/bulk-export/job/export-job.service';
import { ExportRunner, RunEnd } from '../../src/bulk-export/processor/export.runner';
import {
  ExportPageQuery,
  ExportReadRepository,
} from '../../src/bulk-export/read/export-read.repository';
import { Gate } from './export-helpers';

/*
 * Spies on the export services of a booted app, to hold a run at a known point or to see what
 * it did. `useTestApp` restores them after each test.
 */

export interface HeldPageRead {
  /** Resolves when the runner asks for the held page. */
  reached: Promise<void>;
  release(): void;
  /** Page reads so far, the held one included. */
  calls(): number;
  spy: jest.SpyInstance<ReturnType<ExportReadRepository['pageNdjson']>, [ExportPageQuery]>;
}

/**
 * Holds the export runner at its page read number `at` (1-based), or at the first page read
 * whose query `at` accepts, until released.
 */
export function holdPageRead(
  app: INestApplication,
  at: number | ((query: ExportPageQuery) => boolean),
): HeldPageRead {
  const reads = app.get(ExportReadRepository);
  const original = reads.pageNdjson.bind(reads);
  const reached = new Gate();
  const release = new Gate();
  let calls = 0;
  let held = false;
  const spy = jest.spyOn(reads, 'pageNdjson').mockImplementation(async (query) => {
    calls += 1;
    if (!held && (typeof at === 'number' ? calls === at : at(query))) {
      held = true;
      reached.open();
      await release.opened;
    }
    return original(query);
  });
  return { reached: reached.opened, release: () => release.open(), calls: () => calls, spy };
}

/**
 * Resolves once the runner has saved `count` checkpoints. The runner reads a page ahead while it
 * writes the one before, so the moment a page read starts says nothing about what is durable;
 * with every page checkpointed (a tiny EXPORT_CHECKPOINT_MB), the checkpoint count does.
 */
export function checkpointsSaved(app: INestApplication, count: number): Promise<void> {
  const jobs = app.get(ExportJobService);
  const original = jobs.saveCheckpoint.bind(jobs);
  const saved = new Gate();
  let calls = 0;
  jest.spyOn(jobs, 'saveCheckpoint').mockImplementation(async (...args) => {
    const done = await original(...args);
    calls += 1;
    if (calls === count) saved.open();
    return done;
  });
  return saved.opened;
}

/** Records every run of the export runner, so a test can wait for the worker to be done. */
export function recordRuns(app: INestApplication): Promise<RunEnd>[] {
  const runner = app.get(ExportRunner);
  const original = runner.run.bind(runner);
  const runs: Promise<RunEnd>[] = [];
  jest.spyOn(runner, 'run').mockImplementation((id: string) => {
    const run = original(id);
    runs.push(run);
    return run;
  });
  return runs;
}

/** `promise`, or a rejection naming `what` after `ms`: a bound on a wait, not a timing check. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` until it returns a value; bounded, with diagnostics when it gives up. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  diagnostics: () => string = () => '',
  timeoutMs = 45_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}\n${diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
