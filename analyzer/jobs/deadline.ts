// Bounded waiting: every wait on the job backend that could otherwise hang (a Redis that stopped
// answering, a handler that ignores its abort signal) goes through here, so none can block a
// caller or a shutdown forever.

/**
 * Settles like `promise`, or rejects with `onTimeout()` after `ms`. The timer is cleared either
 * way, so a finished wait never keeps the process alive.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Waits for `promise` for at most `ms`; true if it settled (either way) in time. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await withDeadline(promise.then(() => undefined, () => undefined), ms, () => new Error('timed out'));
    return true;
  } catch {
    return false;
  }
}
