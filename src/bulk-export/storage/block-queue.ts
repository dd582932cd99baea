/** Sends one block; `offset` is where it starts, counted from the first byte pushed into the queue. */
export type BlockSender = (block: Buffer, offset: number) => Promise<void>;

/**
 * Gathers appended chunks into blocks of at least `blockSize` bytes and hands each to `send`,
 * keeping at most `maxInFlight` sends running. Blocks are handed over in order. The first send
 * failure is kept and rethrown by every later call, so an error from a block nobody awaited
 * still reaches the caller instead of becoming an unhandled rejection.
 */
export class BlockQueue {
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private sent = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly blockSize: number,
    private readonly maxInFlight: number,
    private readonly send: BlockSender,
  ) {
    if (!(blockSize >= 1) || !(maxInFlight >= 1)) {
      throw new Error('Block size and blocks in flight must be at least 1');
    }
  }

  /** Bytes pushed so far. */
  get bytes(): number {
    return this.sent + this.chunkBytes;
  }

  /** Takes ownership of `chunk`: the caller must not modify it afterwards. */
  async push(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.chunkBytes >= this.blockSize) await this.cut();
  }

  /** Sends the partial block, if any, and waits until every block has been sent. */
  async drain(): Promise<void> {
    this.throwIfFailed();
    if (this.chunkBytes > 0) await this.cut();
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  /** Drops what is buffered and waits for the sends already started, ignoring their outcome. */
  async discard(): Promise<void> {
    this.chunks = [];
    this.chunkBytes = 0;
    while (this.inFlight.size > 0) await Promise.allSettled(this.inFlight);
  }

  private async cut(): Promise<void> {
    const block =
      this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.chunkBytes);
    const offset = this.sent;
    this.chunks = [];
    this.sent += this.chunkBytes;
    this.chunkBytes = 0;
    while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const sending: Promise<void> = this.send(block, offset)
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
