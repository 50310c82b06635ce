// The simulator's seeded randomness. Every estate is a pure function of its seed, so every draw goes
// through this module: xoshiro128** (Blackman & Vigna, 2018) on 32-bit integers, seeded through
// splitmix32. Only integer operations (Math.imul, shifts) and IEEE-exact arithmetic (+ - * / on
// integers below 2^53, Math.sqrt, Math.round) are used — no Math.random, no Math.exp or Math.log,
// whose last bits are not pinned by the spec — so a seed gives the same sequence on every platform
// and Node version.

const TWO_32 = 4294967296;

/** FNV-1a over the UTF-16 code units: a stable 32-bit hash of a label, for deriving sub-seeds. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A 32-bit integer mix of two integers (murmur3 finalizer): stateless, for per-key decisions. */
export function mix32(a: number, b: number): number {
  let h = (Math.imul(a | 0, 0x9e3779b1) ^ (b | 0)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is any integer (taken modulo 2^32). */
  constructor(seed: number) {
    // splitmix32 spreads one seed over the four state words; it never yields an all-zero state
    // for all four words from one counter, which xoshiro must not start from.
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A generator with the given four state words (not all zero), for checking against reference vectors. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Random {
    const r = new Random(0);
    r.s0 = s0 >>> 0;
    r.s1 = s1 >>> 0;
    r.s2 = s2 >>> 0;
    r.s3 = s3 >>> 0;
    return r;
  }

  /** A generator for one purpose ("flows", "pods:catalog"), independent of the order others draw in. */
  static derive(seed: number, purpose: string): Random {
    return new Random(mix32(seed >>> 0, hashString(purpose)));
  }

  /** The next 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), a multiple of 2^-32 (exact). */
  unit(): number {
    return this.u32() / TWO_32;
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias (rejection of the short last block). */
  below(n: number): number {
    if (n <= 1) return 0;
    const limit = TWO_32 - (TWO_32 % n);
    let x = this.u32();
    while (x >= limit) x = this.u32();
    return x % n;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() < p * TWO_32;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.below(items.length)] as T;
  }

  /** An item with probability proportional to its weight (weights ≥ 0, not all zero). */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    let total = 0;
    for (const w of weights) total += w;
    let target = this.unit() * total;
    for (let i = 0; i < items.length; i++) {
      target -= weights[i] ?? 0;
      if (target < 0) return items[i] as T;
    }
    return items[items.length - 1] as T;
  }

  /**
   * A Poisson-like count with the given mean. Up to a mean of 4 it is binomial (4·⌈mean⌉ trials),
   * which is within a few percent of Poisson there; above, a normal approximation built from four
   * uniforms (Irwin–Hall), rounded and clamped at 0. Both avoid exp/log (see the header).
   */
  count(mean: number): number {
    if (!(mean > 0)) return 0;
    if (mean <= 4) {
      const trials = Math.ceil(mean) * 4;
      const threshold = (mean / trials) * TWO_32;
      let k = 0;
      for (let i = 0; i < trials; i++) if (this.u32() < threshold) k++;
      return k;
    }
    // The sum of four U(0,1) has mean 2 and variance 1/3.
    const z = (this.unit() + this.unit() + this.unit() + this.unit() - 2) * 1.7320508075688772;
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }

  /** An integer uniformly within ±spread (a fraction) of `mean`, at least `min`. */
  around(mean: number, spread = 0.5, min = 0): number {
    return Math.max(min, Math.round(mean * (1 - spread + 2 * spread * this.unit())));
  }

  /** `length` lowercase hexadecimal digits. */
  hex(length: number): string {
    let out = '';
    while (out.length < length) out += this.u32().toString(16).padStart(8, '0');
    return out.slice(0, length);
  }

  /** `length` characters drawn from `alphabet`. */
  chars(length: number, alphabet: string): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.below(alphabet.length)];
    return out;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = out[i] as T;
      out[i] = out[j] as T;
      out[j] = t;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
