// Test helpers for code that runs jobs: latches and counters to wait on what a handler did,
// instead of sleeping and hoping. Used by this folder's tests; other stages' tests may use them.
import { withDeadline } from './deadline.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A count that can be awaited: `await counter.reached(3)` resolves once it has been hit 3 times. */
export class Counter {
  value = 0;
  private readonly waiting: { target: number; resolve(): void }[] = [];

  increment(): number {
    this.value += 1;
    for (const waiter of this.waiting.filter((w) => this.value >= w.target)) {
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
    return this.value;
  }

  reached(target: number, timeoutMs = 10_000): Promise<void> {
    if (this.value >= target) return Promise.resolve();
    const reached = new Promise<void>((resolve) => this.waiting.push({ target, resolve }));
    return withDeadline(reached, timeoutMs, () => new Error(`count reached ${this.value}, not ${target}, within ${timeoutMs} ms`));
  }
}

/** Retries `attempt` until it resolves or `timeoutMs` passes; for conditions with no event to await. */
export async function eventually<T>(attempt: () => Promise<T>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
