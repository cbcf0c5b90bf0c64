// How long this process's threads waited for a core (Linux: /proc/self/task/*/schedstat holds each thread's
// on-CPU and run-queue nanoseconds), so a benchmark on a shared machine can tell a busy machine from slow code.
import { readdirSync, readFileSync } from 'node:fs';

export type SchedSample = Map<string, [onCpuNs: number, waitNs: number]>;

/** Every thread's counters now, or null where /proc does not have them. */
export function schedSample(): SchedSample | null {
  try {
    const m: SchedSample = new Map();
    for (const t of readdirSync('/proc/self/task')) {
      const [run, wait] = readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ').map(Number);
      m.set(t, [run!, wait!]);
    }
    return m;
  } catch {
    return null;
  }
}

/** Run-queue time and on-CPU time added up between two samples over the threads that were busy. */
export class RunQueueMeter {
  onCpuNs = 0;
  waitNs = 0;

  add(before: SchedSample | null, after: SchedSample | null, wallNs: number): void {
    if (before === null || after === null) return;
    for (const [t, [run, wait]] of after) {
      const [run0, wait0] = before.get(t) ?? [0, 0];
      // threads that ran or waited for at least 5% of the interval: the stepping threads, not idle helpers
      if (run - run0 + (wait - wait0) < 0.05 * wallNs) continue;
      this.onCpuNs += run - run0;
      this.waitNs += wait - wait0;
    }
  }

  /** Share of the busy threads' time spent waiting for a core (null when nothing was measured). */
  share(): number | null {
    const all = this.onCpuNs + this.waitNs;
    return all > 0 ? this.waitNs / all : null;
  }
}
