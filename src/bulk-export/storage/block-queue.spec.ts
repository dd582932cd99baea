import { BlockQueue } from './block-queue';

interface Sent {
  block: string;
  offset: number;
  done: () => void;
  fail: (error: Error) => void;
}

/** A sender whose sends stay pending until the test settles them. */
function manualSender() {
  const sent: Sent[] = [];
  const send = (block: Buffer, offset: number) =>
    new Promise<void>((resolve, reject) => {
      sent.push({ block: block.toString(), offset, done: resolve, fail: reject });
    });
  return { sent, send };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('BlockQueue', () => {
  it('gathers chunks into blocks of at least the block size, in order, with their offsets', async () => {
    const sent: [string, number][] = [];
    const queue = new BlockQueue(4, 2, (block, offset) => {
      sent.push([block.toString(), offset]);
      return Promise.resolve();
    });
    for (const chunk of ['ab', 'cd', 'e', 'fghij', 'k']) await queue.push(Buffer.from(chunk));
    await queue.drain();

    expect(sent).toEqual([
      ['abcd', 0],
      ['efghij', 4],
      ['k', 10],
    ]);
    expect(queue.bytes).toBe(11);
  });

  it('waits for a free slot once the maximum of blocks is in flight', async () => {
    const { sent, send } = manualSender();
    const queue = new BlockQueue(1, 2, send);
    await queue.push(Buffer.from('a'));
    await queue.push(Buffer.from('b'));
    let thirdAccepted = false;
    const third = queue.push(Buffer.from('c')).then(() => (thirdAccepted = true));
    await flush();

    expect(sent.map((s) => s.block)).toEqual(['a', 'b']);
    expect(thirdAccepted).toBe(false);
    sent[0].done();
    await third;
    expect(sent.map((s) => s.block)).toEqual(['a', 'b', 'c']);
    sent[1].done();
    sent[2].done();
    await queue.drain();
  });

  it('reports a failed block that nobody awaited on the next call', async () => {
    const { sent, send } = manualSender();
    const queue = new BlockQueue(1, 4, send);
    await queue.push(Buffer.from('a'));
    sent[0].fail(new Error('storage is down'));
    await flush();

    await expect(queue.push(Buffer.from('b'))).rejects.toThrow('storage is down');
    await expect(queue.drain()).rejects.toThrow('storage is down');
  });

  it('drain waits for every block in flight', async () => {
    const { sent, send } = manualSender();
    const queue = new BlockQueue(10, 4, send);
    await queue.push(Buffer.from('partial'));
    let drained = false;
    const draining = queue.drain().then(() => (drained = true));
    await flush();

    expect(sent.map((s) => s.block)).toEqual(['partial']);
    expect(drained).toBe(false);
    sent[0].done();
    await draining;
    expect(drained).toBe(true);
  });

  it('discard drops buffered bytes and settles without raising send failures', async () => {
    const { sent, send } = manualSender();
    const queue = new BlockQueue(2, 4, send);
    await queue.push(Buffer.from('ab'));
    await queue.push(Buffer.from('c'));
    const discarding = queue.discard();
    sent[0].fail(new Error('ignored'));

    await expect(discarding).resolves.toBeUndefined();
    expect(sent.map((s) => s.block)).toEqual(['ab']);
  });
});
