// Who is waiting for which job to finish. Both runners feed it "job X may have finished" signals
// (in-process: from the dispatcher; BullMQ: from QueueEvents) instead of polling job state.
import { FlowmapError } from '../../core/errors.js';
import { jobNotFound, type JobInfo } from './runner.js';
import { withDeadline } from './deadline.js';

interface Waiter {
  resolve(info: JobInfo): void;
  reject(err: unknown): void;
}

export function isFinished(info: JobInfo): boolean {
  return info.state === 'completed' || info.state === 'failed';
}

export class FinishWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();

  /** @param load reads a job's current info; undefined when it does not exist. */
  constructor(private readonly load: (id: string) => Promise<JobInfo | undefined>) {}

  /**
   * Registers first, then reads the current state, so a job that finishes between the two is
   * caught by either the read or the notification.
   */
  wait(id: string, timeoutMs?: number): Promise<JobInfo> {
    let waiter: Waiter | undefined;
    const finished = new Promise<JobInfo>((resolve, reject) => {
      waiter = { resolve, reject };
      let set = this.waiting.get(id);
      if (set === undefined) this.waiting.set(id, (set = new Set()));
      set.add(waiter);
    });
    const registered = waiter as Waiter;
    this.load(id).then(
      (info) => {
        if (info === undefined) this.settle(id, registered, () => registered.reject(jobNotFound(id)));
        else if (isFinished(info)) this.settle(id, registered, () => registered.resolve(info));
      },
      (err: unknown) => this.settle(id, registered, () => registered.reject(err)),
    );
    if (timeoutMs === undefined) return finished;
    return withDeadline(finished, timeoutMs, () =>
      new FlowmapError('FLOWMAP_JOB_BACKEND', `job "${id}" did not finish within ${timeoutMs} ms`, { status: 504, details: { id, timeoutMs } }),
    ).finally(() => this.remove(id, registered));
  }

  /** The job may have finished: re-read it and release its waiters if it has. */
  notify(id: string): void {
    const set = this.waiting.get(id);
    if (set === undefined) return;
    this.load(id).then(
      (info) => {
        if (info === undefined) for (const waiter of [...set]) this.settle(id, waiter, () => waiter.reject(jobNotFound(id)));
        else if (isFinished(info)) for (const waiter of [...set]) this.settle(id, waiter, () => waiter.resolve(info));
      },
      (err: unknown) => {
        for (const waiter of [...set]) this.settle(id, waiter, () => waiter.reject(err));
      },
    );
  }

  /** On shutdown: nothing will notify any more, so nobody may keep waiting. */
  rejectAll(err: Error): void {
    for (const [id, set] of this.waiting) for (const waiter of [...set]) this.settle(id, waiter, () => waiter.reject(err));
  }

  private settle(id: string, waiter: Waiter, outcome: () => void): void {
    if (!this.remove(id, waiter)) return;
    outcome();
  }

  private remove(id: string, waiter: Waiter): boolean {
    const set = this.waiting.get(id);
    if (set === undefined || !set.delete(waiter)) return false;
    if (set.size === 0) this.waiting.delete(id);
    return true;
  }
}
