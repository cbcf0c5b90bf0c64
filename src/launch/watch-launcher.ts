// [Note: ranks watch the launcher] A rank started by `zerots launch` must not outlive it: if the launcher is killed
// (SIGKILL, the OOM killer, a scheduler) nobody is left to stop the ranks, and they would train on as orphans. So
// every rank process runs a tiny watcher thread (started by rank-preload.ts through `node --import`, before the
// script, whatever the script does) that checks every WATCH_MS whether its parent is still the launcher; once the
// process has been re-parented, the launcher is gone and the watcher kills its own process. A thread, not a timer
// of the main thread: training blocks the main thread for seconds (synchronous kernels, Atomics.wait), a thread
// keeps its own event loop; and it does not depend on the rank printing (a pipe write failing) either.
import { Worker } from 'node:worker_threads';

/** How often the watcher looks at its parent; detection takes at most this (plus scheduling delay). */
export const WATCH_MS = 250;

// Plain JavaScript, evaluated in the thread: it must not import the project (the preload runs before anything).
const WATCHER = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const check = () => {
  if (process.ppid === workerData.launcherPid) return;
  try {
    writeSync(2, 'zerots: ' + workerData.label + ': the launcher (pid ' + workerData.launcherPid + ') is gone; ' +
      'this rank stops too (no orphans)\\n');
  } catch {}
  process.kill(process.pid, 'SIGKILL');
};
check();
setInterval(check, workerData.everyMs);
`;

let started: Worker | null = null;

/** Starts the watcher thread of this process (once); it never keeps the process alive. */
export function watchLauncher(launcherPid: number, label: string, everyMs = WATCH_MS): void {
  if (started) return;
  started = new Worker(WATCHER, { eval: true, workerData: { launcherPid, label, everyMs }, stdout: false });
  started.unref();
}
