import { Rng } from './prng';

describe('Rng', () => {
  it('repeats the same sequence for the same keys and differs for other keys', () => {
    const draw = (...keys: number[]) => {
      const rng = new Rng(...keys);
      return Array.from({ length: 8 }, () => rng.u32());
    };
    expect(draw(1, 2)).toEqual(draw(1, 2));
    expect(draw(1, 2)).not.toEqual(draw(2, 1));
    expect(draw(1, 2)).not.toEqual(draw(1, 3));
    // Seeds above 2^32 are told apart, not truncated.
    expect(draw(2 ** 40 + 1, 0)).not.toEqual(draw(1, 0));
  });

  it('keeps int() within its inclusive bounds and reaches both ends', () => {
    const rng = new Rng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const n = rng.int(3, 6);
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(6);
      seen.add(n);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it('spreads next() evenly over [0, 1)', () => {
    const rng = new Rng(11);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) buckets[Math.floor(rng.next() * 10)]++;
    for (const count of buckets) {
      expect(count).toBeGreaterThan(1800);
      expect(count).toBeLessThan(2200);
    }
  });

  it('draws RFC 4122 version 4 UUIDs', () => {
    const rng = new Rng(5);
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = rng.uuid();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(1000);
  });

  it('picks weighted items in proportion to their weights', () => {
    const rng = new Rng(3);
    let heavy = 0;
    for (let i = 0; i < 10_000; i++)
      if (rng.weighted(['a', 'b'], (x) => (x === 'a' ? 3 : 1)) === 'a') heavy++;
    expect(heavy / 10_000).toBeGreaterThan(0.72);
    expect(heavy / 10_000).toBeLessThan(0.78);
  });
});
