/** The BullMQ queue of export jobs; each BullMQ job id is the export id. */
export const EXPORT_QUEUE = 'export';

export interface ExportQueuePayload {
  exportId: string;
  /** How often the sweep handed the export out again after its queue entry ended without it. */
  requeues?: number;
}
