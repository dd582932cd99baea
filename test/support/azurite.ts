import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';

/** The blob storage the integration suite runs against (global-setup starts it). */
export function testStorageConnectionString(): string {
  const connectionString = process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (!connectionString)
    throw new Error('AZURE_STORAGE_CONNECTION_STRING is not set: run via jest');
  return connectionString;
}

export function testBlobService(): BlobServiceClient {
  return BlobServiceClient.fromConnectionString(testStorageConnectionString());
}

/** A container name no other test uses. */
export function uniqueContainerName(label: string): string {
  return `${label}-${randomBytes(6).toString('hex')}`;
}

export async function listBlobNames(container: string, prefix?: string): Promise<string[]> {
  const names: string[] = [];
  const client = testBlobService().getContainerClient(container);
  if (!(await client.exists())) return names;
  for await (const blob of client.listBlobsFlat({ prefix })) names.push(blob.name);
  return names.sort();
}

export async function readText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
