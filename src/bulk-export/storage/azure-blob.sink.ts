import { randomBytes } from 'node:crypto';
import {
  BlobSASPermissions,
  BlobServiceClient,
  BlockBlobClient,
  ContainerClient,
  generateBlobSASQueryParameters,
  RestError,
  StorageRetryPolicyType,
  StorageSharedKeyCredential,
  UserDelegationKey,
} from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { FHIR_NDJSON } from '../../common/fhir-content-types';
import { BlockQueue } from './block-queue';
import {
  assertSafeLocation,
  CONFIGURATION_CONTAINER,
  ConfigurationNotRead,
  ExportFileWriter,
  ExportLocation,
  ExportSink,
  FileCheckpoint,
  fileGone,
  StorageFailure,
  StoredConfiguration,
} from './export-sink';

export interface AzureRetryOptions {
  /** Attempts per request, the first included. */
  maxTries: number;
  /** First backoff delay; it doubles on each retry up to `maxRetryDelayInMs`. */
  retryDelayInMs: number;
  maxRetryDelayInMs: number;
  /** Limit of one attempt; a stalled connection is retried instead of hanging the job. */
  tryTimeoutInMs: number;
}

/**
 * How the sink reaches the account: a connection string (an account key or a SAS in it, or
 * Azurite's), or the account's blob endpoint with a Microsoft Entra ID credential.
 */
export type AzureAccount =
  { connectionString: string } | { accountUrl: string; credential: TokenCredential };

export interface AzureBlobSinkOptions {
  account: AzureAccount;
  retry?: Partial<AzureRetryOptions>;
  /** Smallest staged block; appends gather into blocks of this size. */
  blockSizeBytes?: number;
  /** Blocks staged concurrently per file. */
  maxBlocksInFlight?: number;
  /**
   * Limit of one write-side call (stage, commit, create, delete), its retries included. The
   * SDK's `tryTimeoutInMs` only asks the service to give up; a connection that never answers
   * would hold the export forever without this.
   */
  requestTimeoutMs?: number;
}

export const DEFAULT_AZURE_RETRY: AzureRetryOptions = {
  maxTries: 6,
  retryDelayInMs: 500,
  maxRetryDelayInMs: 30_000,
  tryTimeoutInMs: 120_000,
};

// Export pages (~EXPORT_PAGE_MB) are larger, so each is staged as its own block without being
// copied into a bigger one; only small types' pages are gathered. Re-blocking every page into
// 4 MiB blocks copied all output once more and, at 4 in flight, held ~50 MB more in the worker.
const DEFAULT_BLOCK_SIZE = 1024 * 1024;
const DEFAULT_BLOCKS_IN_FLIGHT = 4;
const DELETE_CONCURRENCY = 8;
const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/**
 * Export files as block blobs ("Put Block" / "Put Block List" of the Blob service REST API):
 * appended bytes are staged as blocks while the file grows, and a commit publishes the block
 * list. A checkpoint is that list, so a resumed writer commits it plus its own new blocks, and
 * whatever a crashed worker staged or committed past the checkpoint disappears on that commit.
 */
export class AzureBlobSink extends ExportSink {
  private readonly service: BlobServiceClient;
  private readonly blockSize: number;
  private readonly blocksInFlight: number;
  private readonly requestTimeoutMs: number;
  private delegationKey?: UserDelegationKey;

  constructor(options: AzureBlobSinkOptions) {
    super();
    const retry = { ...DEFAULT_AZURE_RETRY, ...options.retry };
    const pipeline = {
      retryOptions: { retryPolicyType: StorageRetryPolicyType.EXPONENTIAL, ...retry },
      keepAliveOptions: { enable: true },
    };
    const { account } = options;
    this.service =
      'connectionString' in account
        ? BlobServiceClient.fromConnectionString(account.connectionString, pipeline)
        : new BlobServiceClient(account.accountUrl, account.credential, pipeline);
    this.blockSize = options.blockSizeBytes ?? DEFAULT_BLOCK_SIZE;
    this.blocksInFlight = options.maxBlocksInFlight ?? DEFAULT_BLOCKS_IN_FLIGHT;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** The abort signal that bounds one write-side call. */
  private bounded(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.requestTimeoutMs) };
  }

  failure(error: unknown): StorageFailure | undefined {
    if (error instanceof RestError) {
      const status = error.statusCode;
      // No status: the request never got an answer (refused, reset, timed out).
      const transient = status === undefined || status === 408 || status === 429 || status >= 500;
      const code = error.code ?? (error.details as { errorCode?: string } | undefined)?.errorCode;
      return { transient, detail: [status, code].filter(Boolean).join(' ') || error.message };
    }
    // The call ran past requestTimeoutMs without an answer.
    if (error instanceof Error && error.name === 'AbortError') {
      return { transient: true, detail: 'request timed out' };
    }
    return undefined;
  }

  async ping(timeoutMs: number): Promise<void> {
    // The abort bounds the whole call, retries included.
    await this.service.getProperties({ abortSignal: AbortSignal.timeout(timeoutMs) });
  }

  async prepare(location: ExportLocation): Promise<void> {
    await this.container(location).createIfNotExists(this.bounded());
  }

  openFile(
    location: ExportLocation,
    fileName: string,
    resume?: FileCheckpoint,
  ): Promise<ExportFileWriter> {
    if (resume && resume.kind !== 'azure-block-blob') {
      return Promise.reject(
        new Error(`Cannot resume ${fileName} from a ${resume.kind} checkpoint`),
      );
    }
    return Promise.resolve(
      new AzureBlockBlobWriter(
        this.blob(location, fileName),
        fileName,
        resume,
        this.blockSize,
        this.blocksInFlight,
        this.requestTimeoutMs,
      ),
    );
  }

  async read(location: ExportLocation, fileName: string): Promise<NodeJS.ReadableStream> {
    const response = await this.blob(location, fileName)
      .download()
      .catch((error: unknown) => {
        if ((error as { statusCode?: number }).statusCode === 404) throw fileGone(fileName);
        throw error;
      });
    if (!response.readableStreamBody) throw new Error(`No body downloading ${fileName}`);
    return response.readableStreamBody;
  }

  async readConfiguration(
    name: string,
    options: { etag?: string; maxBytes: number },
  ): Promise<StoredConfiguration> {
    const container = this.service.getContainerClient(CONFIGURATION_CONTAINER);
    const blob = container.getBlobClient(name);
    const notRead = async (error: unknown): Promise<never> => {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 412) {
        throw new ConfigurationNotRead(
          'etag-mismatch',
          `The anonymization configuration '${name}' is not at ETag ${options.etag ?? '(changed while read)'}`,
        );
      }
      if (status === 404) {
        if (!(await container.exists(this.bounded()))) {
          throw new ConfigurationNotRead(
            'no-container',
            `The export storage has no '${CONFIGURATION_CONTAINER}' container for anonymization configurations`,
          );
        }
        throw new ConfigurationNotRead(
          'not-found',
          `The anonymization configuration '${name}' is not in the '${CONFIGURATION_CONTAINER}' container`,
        );
      }
      throw error;
    };
    const conditions = options.etag ? { ifMatch: options.etag } : undefined;
    const properties = await blob.getProperties({ conditions, ...this.bounded() }).catch(notRead);
    if ((properties.contentLength ?? 0) > options.maxBytes) {
      throw new ConfigurationNotRead(
        'too-large',
        `The anonymization configuration '${name}' is ${properties.contentLength} bytes; at most ${options.maxBytes} are read`,
      );
    }
    // The version just checked, so a change between the two requests is not read unnoticed.
    const content = await blob
      .downloadToBuffer(0, undefined, {
        conditions: { ifMatch: properties.etag },
        ...this.bounded(),
      })
      .catch(notRead);
    return { content, etag: properties.etag ?? '' };
  }

  async deleteAll(location: ExportLocation): Promise<void> {
    const container = this.container(location);
    if (location.prefix === '') {
      await container.deleteIfExists(this.bounded());
      return;
    }
    try {
      let batch: Promise<unknown>[] = [];
      for await (const item of container.listBlobsFlat({
        prefix: location.prefix,
        ...this.bounded(),
      })) {
        batch.push(
          container
            .getBlobClient(item.name)
            .deleteIfExists({ deleteSnapshots: 'include', ...this.bounded() }),
        );
        if (batch.length >= DELETE_CONCURRENCY) {
          await Promise.all(batch);
          batch = [];
        }
      }
      await Promise.all(batch);
    } catch (error) {
      if (!(error instanceof RestError && error.statusCode === 404)) throw error;
    }
  }

  /** Read-only service SAS; needs a connection string with an account key. */
  override async sasUrl(
    location: ExportLocation,
    fileName: string,
    expiresInSeconds: number,
  ): Promise<string> {
    const now = Date.now();
    const blob = this.blob(location, fileName);
    const sas = {
      permissions: BlobSASPermissions.parse('r'),
      // Tolerates clock skew between this server and the storage service.
      startsOn: new Date(now - 5 * 60_000),
      expiresOn: new Date(now + expiresInSeconds * 1000),
    };
    // Signed with the account key when the sink has one; with Entra ID there is no key, and a
    // user delegation key the server's identity obtains signs the link instead.
    if (this.service.credential instanceof StorageSharedKeyCredential) {
      return blob.generateSasUrl(sas);
    }
    const key = await this.userDelegationKey(sas.expiresOn);
    const query = generateBlobSASQueryParameters(
      { ...sas, containerName: blob.containerName, blobName: blob.name },
      key,
      this.service.accountName,
    );
    return `${blob.url}?${query.toString()}`;
  }

  /**
   * A user delegation key valid past `until`: one serves many links, so it is fetched again
   * only when the one held would expire first (keys live at most seven days; an hour is asked).
   */
  private async userDelegationKey(until: Date): Promise<UserDelegationKey> {
    const held = this.delegationKey;
    if (held && held.signedExpiresOn.getTime() > until.getTime() + 60_000) return held;
    const now = Date.now();
    const key = await this.service.getUserDelegationKey(
      new Date(now - 5 * 60_000),
      new Date(Math.max(now + 60 * 60_000, until.getTime() + 60 * 60_000)),
      this.bounded(),
    );
    this.delegationKey = key;
    return key;
  }

  private container(location: ExportLocation): ContainerClient {
    assertSafeLocation(location);
    return this.service.getContainerClient(location.container);
  }

  private blob(location: ExportLocation, fileName: string): BlockBlobClient {
    assertSafeLocation(location, fileName);
    return this.service
      .getContainerClient(location.container)
      .getBlockBlobClient(location.prefix + fileName);
  }
}

/**
 * Block ids are unique per writer session, so a block a dead worker was still uploading can never
 * replace one of ours. Every id of a blob must have the same length: 8 hex + '-' + 9 digits.
 */
function blockId(session: string, index: number): string {
  return Buffer.from(`${session}-${index.toString().padStart(9, '0')}`).toString('base64');
}

class AzureBlockBlobWriter implements ExportFileWriter {
  private readonly session = randomBytes(4).toString('hex');
  private readonly blockIds: string[];
  private readonly baseBytes: number;
  private readonly queue: BlockQueue;
  private committedBytes: number;
  /** Set while the blob's committed list may differ from ours; a resumed file starts that way. */
  private dirty = true;
  private closed = false;

  constructor(
    private readonly blob: BlockBlobClient,
    readonly fileName: string,
    resume: Extract<FileCheckpoint, { kind: 'azure-block-blob' }> | undefined,
    blockSize: number,
    blocksInFlight: number,
    private readonly requestTimeoutMs: number,
  ) {
    this.blockIds = resume ? [...resume.blockIds] : [];
    this.baseBytes = resume?.bytes ?? 0;
    this.committedBytes = this.baseBytes;
    this.queue = new BlockQueue(blockSize, blocksInFlight, (block) => this.stage(block));
  }

  get bytes(): number {
    return this.baseBytes + this.queue.bytes;
  }

  async append(chunk: Buffer): Promise<void> {
    this.assertOpen();
    this.dirty ||= chunk.length > 0;
    await this.queue.push(chunk);
  }

  async commit(): Promise<FileCheckpoint> {
    this.assertOpen();
    await this.queue.drain();
    const bytes = this.bytes;
    if (this.dirty) {
      await this.blob.commitBlockList(this.blockIds, {
        blobHTTPHeaders: { blobContentType: FHIR_NDJSON },
        abortSignal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      this.dirty = false;
      this.committedBytes = bytes;
    }
    return { kind: 'azure-block-blob', bytes: this.committedBytes, blockIds: [...this.blockIds] };
  }

  async close(): Promise<FileCheckpoint> {
    const checkpoint = await this.commit();
    this.closed = true;
    return checkpoint;
  }

  async abort(): Promise<void> {
    this.closed = true;
    await this.queue.discard();
  }

  private stage(block: Buffer): Promise<void> {
    const id = blockId(this.session, this.blockIds.length);
    this.blockIds.push(id);
    return this.blob
      .stageBlock(id, block, block.length, {
        abortSignal: AbortSignal.timeout(this.requestTimeoutMs),
      })
      .then(() => undefined);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.fileName} is already closed`);
  }
}
