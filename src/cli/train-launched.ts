// `zerots train` as one rank of a `zerots launch` job: the launcher started this process with its rank in the
// environment (src/launch/env.ts), so instead of starting ranks of its own the command runs the rank program here,
// and rank 0 reports the job's result. When the launcher restarted the job (--max-restarts, ctx.restartCount > 0)
// the run resumes by itself from the latest checkpoint in --save-dir ([Note: elastic restart]). mpirun (or srun)
// starts ranks the same way; `zerots train --transport mpi` outside one starts mpirun with the same command line.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LATEST } from '../checkpoint/atomic.js';
import { NumericsError } from '../errors.js';
import type { LaunchedRank } from '../launch/index.js';
import { trainRank } from '../train/rank.js';
import { runUnderMpirun } from './mpirun.js';
import type { RunSpec } from '../train/spec.js';

/**
 * The checkpoint to resume from: on a restart the latest one in saveDir (whatever --resume said: the job has moved
 * on since), else what the flags asked for. A restart before the first save starts from scratch again.
 */
export function autoResume(
  ctx: LaunchedRank | null,
  saveDir: string | undefined,
  asked: string | undefined,
  log: (line: string) => void,
): string | undefined {
  const restarts = ctx?.restartCount ?? 0;
  if (restarts === 0) return asked;
  if (saveDir !== undefined && existsSync(join(saveDir, LATEST))) {
    log(`restart ${restarts} of this job: resuming from the latest checkpoint in ${saveDir}`);
    return saveDir;
  }
  log(
    `restart ${restarts} of this job: ${saveDir === undefined ? 'no --save-dir' : `no checkpoint in ${saveDir} yet`}; ` +
      `${asked === undefined ? 'starting from the beginning' : `resuming from ${asked} as asked`}`,
  );
  return asked;
}

/** Runs this rank's share of the job; rank 0 logs the final loss (averaged over the ranks) and the JSON line. */
export async function trainAsRank(ctx: LaunchedRank, spec: RunSpec, log: (line: string) => void): Promise<void> {
  const [r] = await trainRank(ctx, spec);
  const res = r!;
  const loss = res.worldMeanLoss ?? Number.NaN;
  if (!Number.isFinite(loss))
    throw new NumericsError(
      `rank ${ctx.rank}: the job ended with a training loss ${loss} after ${spec.steps} steps: the model diverged. ` +
        'Lower the learning rate, turn on gradient clipping ("gradient_clipping": 1.0), or use fp32 or bf16.',
    );
  log(`final training loss ${loss.toFixed(6)} (mean over ${ctx.worldSize} ranks) after ${spec.steps} steps`);
  // the thread-rank run's closing line (src/cli/train.ts), from the world's figures (src/train/world-figures.ts)
  const valLoss = res.worldValLoss ?? null;
  const tokensPerSecond = (res.losses.length * res.tokensPerStep) / res.trainSeconds;
  log(
    `${valLoss === null ? 'no held-out loss (--eval-batches 0)' : `held-out loss ${valLoss.toFixed(4)}`} ` +
      `(mean over ${ctx.worldSize} ranks) after ${spec.steps} steps; ${Math.round(tokensPerSecond)} tok/s; ` +
      `peak device memory per rank ${((res.worldPeakBytes ?? res.devicePeakBytes) / 2 ** 20).toFixed(1)} MiB`,
  );
  log(
    JSON.stringify({
      train: {
        launched: true,
        worldSize: ctx.worldSize,
        restartCount: ctx.restartCount ?? 0,
        stage: res.stage,
        precision: res.precision,
        steps: spec.steps,
        stepsTrainedHere: res.losses.length,
        finalTrainLoss: loss,
        valLoss,
        tokensPerSecond,
        skippedSteps: res.skippedSteps,
        engine: res.engine,
      },
    }),
  );
}

/** [native mpi] `zerots train --transport mpi` outside an MPI job: the same command on --world-size ranks of mpirun. */
export function trainUnderMpirun(opts: { worldSize?: number }): void {
  runUnderMpirun('train', opts.worldSize ?? 1, process.argv.slice(2));
}
