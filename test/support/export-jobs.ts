import { getQueueToken } from '@nestjs/bullmq';
import { INestApplication } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import type { ExportRequest } from '../../src/bulk-export/export-request';
import { EXPORT_QUEUE, ExportQueuePayload } from '../../src/bulk-export/export-queue';
import { ExportJobService } from '../../src/bulk-export/job/export-job.service';
import { exportKickOff } from './export-factories';

/* Export job rows and their queue entries, for tests that drive the export services directly. */

/** The app's BullMQ queue of export jobs. */
export function exportQueue(app: INestApplication): Queue<ExportQueuePayload> {
  return app.get<Queue<ExportQueuePayload>>(getQueueToken(EXPORT_QUEUE));
}

/** Which client the job belongs to: a new one of its own unless a test names one. */
export interface JobOwner {
  owner?: string;
}

/** A job row made by the real kick-off (clock, snapshot, location); returns its id. */
export async function kickOffJob(
  app: INestApplication,
  request: Partial<ExportRequest> = {},
  { owner }: JobOwner = {},
): Promise<string> {
  const kickOff = exportKickOff(request);
  const { id, created } = await app
    .get(ExportJobService)
    .kickOff({ ...kickOff, owner: owner ?? kickOff.owner });
  if (!created) throw new Error(`kick-off joined job ${id} instead of creating one`);
  return id;
}

/**
 * A queued job row whose queue entry was never added (as after an API process died between the
 * insert and the add), so that no worker runs it and the test drives it alone.
 */
export async function unqueuedJob(
  app: INestApplication,
  request: Partial<ExportRequest> = {},
  owner: JobOwner = {},
): Promise<string> {
  const add = jest
    .spyOn(exportQueue(app), 'add')
    .mockImplementation((_name, data) => Promise.resolve({ data } as Job<ExportQueuePayload>));
  try {
    return await kickOffJob(app, request, owner);
  } finally {
    add.mockRestore();
  }
}
