import type { WorkerOptions } from 'bullmq';
import { ConfigError, loadConfig } from './app-config';

/**
 * BullMQ worker options of the export processor. `@Processor` takes them when the class is
 * declared, before Nest's DI exists, so they are read from the environment here.
 */
export function exportWorkerOptions(): Partial<WorkerOptions> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    // main() reports a bad environment and exits; an import must not crash before it can.
    if (error instanceof ConfigError) return {};
    throw error;
  }
  return {
    concurrency: config.EXPORT_WORKER_CONCURRENCY,
    lockDuration: config.EXPORT_LOCK_MS,
    stalledInterval: config.EXPORT_LOCK_MS,
    // A stalled export resumes from its checkpoint, so being handed over is safe.
    maxStalledCount: 10,
  };
}
