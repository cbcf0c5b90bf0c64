// What rank 0 shows of a run as it trains, besides its progress lines (rank.ts): a progress bar on a terminal
// (cli-progress: step, loss, lr, loss scale, tokens/s, device memory, ETA) and with a log file one JSON record per
// step (JSON Lines), plus one per held-out evaluation.
// It runs where rank 0 runs, often a worker thread whose event loop the synchronous training loop never yields to:
// so the bar draws on every update (not on cli-progress' timer) into a stream that writes straight to the
// process's file descriptor, and the log is written with appendFileSync.
import { appendFileSync, writeFileSync, writeSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { ConfigError } from '../errors.js';

export interface ProgressOptions {
  steps: number;
  /** Draw the bar (a terminal); false: only the log file, if any. */
  bar: boolean;
  /** The file descriptor the bar is written to (1: stdout). */
  fd: number;
  /** The terminal's width for the bar (default 100). */
  columns?: number;
  /** JSON Lines file: one record per step (truncated at the start). */
  logFile?: string;
}

/** One optimizer step, as reported (the loss averaged over the ranks). */
export interface StepRecord {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  lossScale: number;
  /** false: fp16 overflow skipped the update */
  applied: boolean;
  tokensPerSecond: number;
  /** device bytes in use on rank 0 and their peak */
  deviceBytes: number;
  devicePeakBytes: number;
  elapsedSeconds: number;
}

const MIB = 2 ** 20;

export class ProgressReporter {
  private readonly bar: SingleBar | null = null;

  constructor(private readonly o: ProgressOptions) {
    if (o.logFile !== undefined) {
      try {
        writeFileSync(o.logFile, '');
      } catch (e) {
        throw new ConfigError(`cannot write --log ${o.logFile}: ${(e as Error).message}`, 'log');
      }
    }
    if (o.bar) {
      const stream = { isTTY: true, columns: o.columns ?? 100, write: (s: string) => writeSync(o.fd, s) };
      this.bar = new SingleBar({
        stream: stream as unknown as NodeJS.WritableStream,
        format:
          'step {value}/{total} {bar} {percentage}% | loss {loss} | lr {lr} | scale {scale} | {tps} tok/s | ' +
          'peak {mem} MiB | ETA {eta_formatted}',
        barsize: 20,
        hideCursor: false,
        synchronousUpdate: false,
        etaBuffer: 20,
      });
      this.bar.start(o.steps, 0, { loss: '-', lr: '-', scale: '-', tps: '-', mem: '-' });
    }
  }

  step(r: StepRecord): void {
    if (this.o.logFile !== undefined) appendFileSync(this.o.logFile, `${JSON.stringify(r)}\n`);
    if (this.bar === null) return;
    this.bar.update(r.step, {
      loss: r.loss.toFixed(4),
      lr: r.lr.toExponential(2),
      scale: r.lossScale === 1 ? '-' : String(r.lossScale),
      tps: Math.round(r.tokensPerSecond),
      mem: (r.devicePeakBytes / MIB).toFixed(0),
    });
    // cli-progress redraws on a timer, which a busy worker never runs: draw now
    (this.bar as unknown as { render(force: boolean): void }).render(true);
  }

  /** A held-out loss after `step`: a log record of its own. */
  eval(step: number, valLoss: number): void {
    if (this.o.logFile !== undefined) appendFileSync(this.o.logFile, `${JSON.stringify({ step, valLoss })}\n`);
  }

  /** Ends the bar's line (the next output starts on a line of its own); idempotent. */
  stop(): void {
    if (this.bar === null || this.stopped) return;
    this.stopped = true;
    this.bar.stop();
  }

  private stopped = false;
}
