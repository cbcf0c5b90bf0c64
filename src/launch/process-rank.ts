// The entry of one rank's process under spawnWorld({ transport: 'tcp' }) (see processes.ts): reads its rank from
// the environment, receives { module, fn, args } over IPC, runs the export and sends back the result or error.
import { ConfigError } from '../errors.js';
import { launcherOf, readProcessEnv } from './env.js';
import { markRankImport } from './rank-import.js';
import { watchLauncher } from './watch-launcher.js';
import { processRankContext } from './mpi-context.js';
import { configureNativeFromEnv } from './native-env.js'; // [native blas]
import type { ProcessRankContext } from './tcp-context.js';
import { toWire } from '../comm/wire-error.js';

export interface ProcessTask {
  kind: 'task';
  module: string;
  fn: string;
  args: unknown;
}
export type ProcessReport = { kind: 'result'; value: unknown } | { kind: 'error'; error: ReturnType<typeof toWire> };

function send(m: ProcessReport): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()));
}

async function run(task: ProcessTask): Promise<void> {
  let ctx: ProcessRankContext | null = null;
  let report: ProcessReport;
  try {
    const env = readProcessEnv();
    configureNativeFromEnv(env.localWorldSize); // [native blas] ranks x BLAS threads <= cores
    ctx = processRankContext(env); // [native mpi]
    markRankImport(task.module, task.fn); // [Note: a rank module that also spawns] in rank-import.ts
    const mod = (await import(task.module)) as Record<string, unknown>;
    const f = mod[task.fn];
    if (typeof f !== 'function') {
      throw new ConfigError(
        `spawnWorld: module ${task.module} has no exported function '${task.fn}' (exports: ${Object.keys(mod).join(', ') || 'none'})`,
        'fn',
      );
    }
    report = { kind: 'result', value: await (f as (c: unknown, a: unknown) => unknown)(ctx, task.args) };
  } catch (e) {
    report = { kind: 'error', error: toWire(e) };
  }
  // Hang up cleanly first (peers may still read our last bytes), then report and leave.
  if (report.kind === 'result') ctx?.close();
  await send(report);
  process.exit(report.kind === 'result' ? 0 : 1);
}

if (!process.send) {
  console.error(
    'zerots: process-rank.js is started by spawnWorld (transport tcp) with an IPC channel; it is not a CLI',
  );
  process.exit(2);
}
// the world's owner may be killed outright: this rank must not outlive it ([Note: ranks watch the launcher])
const owner = launcherOf(process.env);
if (owner) watchLauncher(owner.pid, owner.label);
process.once('message', (m: ProcessTask) => void run(m));
