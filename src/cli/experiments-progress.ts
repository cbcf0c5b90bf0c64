// The experiments' progress: a cli-progress bar on stderr when it is a terminal (one step per phase: each method's
// search and its measured run, the equal-batch run, Part 2), one line per phase and trial otherwise (CI logs).
import cliProgress from 'cli-progress';
import type { ExperimentEvent } from '../train/experiments.js';

/** Phases of a full run: 5 searches + 5 measured runs + the equal-batch run + Part 2's 3. */
const PHASES = 14;

export interface Progress {
  event(e: ExperimentEvent): void;
  stop(): void;
}

export function startProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  if (!stream.isTTY) {
    return {
      event(e) {
        if (e.kind === 'phase') stream.write(`[${elapsed()}] ${e.what}\n`);
        else stream.write(`  micro-batch ${e.trial.micro}: ${e.trial.ok ? 'trains' : 'out of memory'}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'experiments [{bar}] {value}/{total} phases | {duration}s | {what}',
      hideCursor: true,
      clearOnComplete: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  let phases = 0;
  let what = 'starting';
  bar.start(PHASES, 0, { what });
  return {
    event(e) {
      if (e.kind === 'phase') {
        if (phases > 0) bar.increment();
        phases++;
        what = e.what;
        bar.update({ what });
      } else {
        bar.update({ what: `${what}: micro-batch ${e.trial.micro} ${e.trial.ok ? 'trains' : 'OOM'}` });
      }
    },
    stop() {
      bar.update(PHASES);
      bar.stop();
    },
  };
}
