import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hashString, mix32, Random } from './random.js';

describe('Random (xoshiro128**)', () => {
  it('matches the reference implementation from state {1, 2, 3, 4}', () => {
    // Output of the authors' C code (prng.di.unimi.it/xoshiro128starstar.c) from s = {1, 2, 3, 4}.
    const r = Random.fromState(1, 2, 3, 4);
    assert.deepEqual(
      Array.from({ length: 8 }, () => r.u32()),
      [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849],
    );
  });

  it('gives the same sequence for a seed on every run and platform (pinned values)', () => {
    const r = new Random(42);
    assert.deepEqual(
      Array.from({ length: 5 }, () => r.u32()),
      [2837322924, 544945897, 479756282, 3500138142, 339756180],
    );
    assert.equal(hashString('flows'), hashString('flows'));
    assert.notEqual(Random.derive(1, 'flows').u32(), Random.derive(1, 'pods').u32());
    assert.notEqual(Random.derive(1, 'flows').u32(), Random.derive(2, 'flows').u32());
  });

  it('keeps int(min, max) within its bounds, both inclusive', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 2 ** 31 }), (seed, min, span) => {
        const r = new Random(seed);
        for (let i = 0; i < 20; i++) {
          const v = r.int(min, min + span);
          if (!Number.isInteger(v) || v < min || v > min + span) return false;
        }
        return true;
      }),
    );
  });

  it('draws below(n) without visible bias', () => {
    const r = new Random(7);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.below(6)]!++;
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, `bucket ${c}`);
  });

  it('draws counts whose mean is the requested mean (Poisson-like), never negative', () => {
    const r = new Random(11);
    for (const mean of [0.05, 0.7, 3, 12, 250]) {
      let sum = 0;
      const n = 20_000;
      for (let i = 0; i < n; i++) {
        const k = r.count(mean);
        assert.ok(Number.isInteger(k) && k >= 0);
        sum += k;
      }
      assert.ok(Math.abs(sum / n - mean) < Math.max(0.02, mean * 0.03), `mean ${mean}: got ${sum / n}`);
    }
    assert.equal(r.count(0), 0);
    assert.equal(r.count(-1), 0);
  });

  it('picks by weight and shuffles as a permutation', () => {
    const r = new Random(3);
    let heavy = 0;
    for (let i = 0; i < 10_000; i++) if (r.weighted(['a', 'b'], [9, 1]) === 'a') heavy++;
    assert.ok(heavy > 8700 && heavy < 9300, String(heavy));
    assert.deepEqual(r.shuffled([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5]);
    assert.match(r.hex(17), /^[0-9a-f]{17}$/);
    assert.notEqual(mix32(1, 2), mix32(2, 1));
  });
});
