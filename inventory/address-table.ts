// An open-addressing hash table from a 16-byte address (four big-endian 32-bit words) to an int,
// for the resolver's hot path: one multiply-mix hash, linear probing over typed arrays, no object
// per entry. Callers hash once (`hashWords`) and reuse the hash for every table and cache they
// probe with the same address.

/** Mixes the four words; the last word (an IPv4 address's only varying one) reaches every bit. */
export function hashWords(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ w1, 0xc2b2ae35);
  h = Math.imul(h ^ w2, 0x27d4eb2f);
  h = Math.imul(h ^ w3, 0x165667b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

export class AddressTable {
  private keys: Uint32Array;
  private values: Int32Array;
  private mask: number;
  /** Entries held. */
  size = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.keys = new Uint32Array(capacity * 4);
    this.values = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
  }

  /** The value stored for the address, -1 when absent. */
  get(hash: number, w0: number, w1: number, w2: number, w3: number): number {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let slot = hash & mask;
    for (;;) {
      const value = values[slot] ?? -1;
      if (value < 0) return -1;
      const k = slot << 2;
      if (keys[k + 3] === w3 && keys[k + 2] === w2 && keys[k + 1] === w1 && keys[k] === w0) return value;
      slot = (slot + 1) & mask;
    }
  }

  /** Stores a value (>= 0) for the address, replacing any earlier one. */
  set(hash: number, w0: number, w1: number, w2: number, w3: number, value: number): void {
    if ((this.size + 1) * 2 > this.values.length) this.grow();
    let slot = hash & this.mask;
    for (;;) {
      const k = slot << 2;
      if ((this.values[slot] ?? -1) < 0) {
        this.keys[k] = w0;
        this.keys[k + 1] = w1;
        this.keys[k + 2] = w2;
        this.keys[k + 3] = w3;
        this.values[slot] = value;
        this.size++;
        return;
      }
      if (this.keys[k + 3] === w3 && this.keys[k + 2] === w2 && this.keys[k + 1] === w1 && this.keys[k] === w0) {
        this.values[slot] = value;
        return;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const capacity = oldValues.length * 2;
    this.keys = new Uint32Array(capacity * 4);
    this.values = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
    this.size = 0;
    for (let slot = 0; slot < oldValues.length; slot++) {
      const value = oldValues[slot] ?? -1;
      if (value < 0) continue;
      const k = slot << 2;
      const w0 = oldKeys[k] ?? 0;
      const w1 = oldKeys[k + 1] ?? 0;
      const w2 = oldKeys[k + 2] ?? 0;
      const w3 = oldKeys[k + 3] ?? 0;
      this.set(hashWords(w0, w1, w2, w3), w0, w1, w2, w3, value);
    }
  }
}
