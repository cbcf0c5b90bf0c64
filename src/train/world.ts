// trainWorld: the main-thread side of every training run. Validates each run's DeepSpeed config here (a bad key
// fails before any rank starts), runs the rank program (rank.ts) on N thread ranks, or at world size 1 in this thread
// over the local process group (no worker to start), and folds the ranks' results into one RunReport per run. A run
// whose final training loss or held-out loss is not finite is a NumericsError: no caller reports success on a NaN.
import { localProcessGroup } from '../comm/local.js';
import { resolveConfig } from '../config/resolve.js';
import { NumericsError } from '../errors.js';
import { type RankContext, spawnWorld } from '../launch/spawn.js';
import { summarize, type RunReport } from './report.js';
import { trainRank } from './rank.js';
import type { RankResult, RunSpec } from './spec.js';
import { pairedRatio } from './stats.js';

/** A world of one rank in this thread: the local process group (src/comm/local.ts). */
export function localRankContext(): RankContext {
  return {
    rank: 0,
    worldSize: 1,
    localRank: 0,
    localWorldSize: 1,
    transport: 'threads',
    initProcessGroup: async (memory, opts) => localProcessGroup(memory, opts),
  };
}

/**
 * Runs `spec` on `worldSize` ranks; one report per run, in spec.runs order. timeoutMs null: no time limit (zerots
 * train); transport 'tcp': the ranks are processes (src/launch/processes.ts).
 */
export async function trainWorld(
  spec: RunSpec,
  worldSize: number,
  timeoutMs: number | null = 3_600_000,
  transport: 'threads' | 'tcp' = 'threads',
): Promise<RunReport[]> {
  for (const r of spec.runs) resolveConfig(r.config, { worldSize });
  const perRank =
    worldSize === 1
      ? [await trainRank(localRankContext(), spec)]
      : await spawnWorld<RankResult[]>({
          worldSize,
          module: new URL('./rank.js', import.meta.url),
          fn: 'trainRank',
          args: spec,
          transport,
          ...(timeoutMs === null ? {} : { timeoutMs }),
        });
  const out = spec.runs.map((_, k) =>
    summarize(
      perRank.map((r) => r[k]!),
      spec.steps,
    ),
  );
  const s0 = out.find((x) => x.stage === 0);
  for (const x of out)
    x.ratioToStage0 = s0 === undefined ? NaN : pairedRatio(s0.perRank[0]!.stepSeconds, x.perRank[0]!.stepSeconds);
  for (const x of out) checkFinite(x);
  return out;
}

function checkFinite(r: RunReport): void {
  const bad = !Number.isFinite(r.finalLoss) ? `training loss ${r.finalLoss}` : null;
  const badVal = r.valLoss !== null && !Number.isFinite(r.valLoss) ? `held-out loss ${r.valLoss}` : null;
  const what = bad ?? badVal;
  if (what === null) return;
  throw new NumericsError(
    `run ${r.label} (ZeRO stage ${r.stage}, ${r.precision}) ended with a ${what} after ${r.steps} steps: the model ` +
      'diverged. Lower the learning rate, turn on gradient clipping ("gradient_clipping": 1.0), or use fp32 or bf16 ' +
      'instead of fp16.',
  );
}
