// The restart loop of `zerots launch --max-restarts N` ([Note: elastic restart] in docs/design-notes.md). Pure
// policy: the launcher hands it a function that runs one attempt of the job at a given size and reports how it
// ended; this file decides whether to run another attempt and at how many ranks.
import { ConfigError } from '../errors.js';

export interface ElasticPolicy {
  /** Restarts allowed after the first attempt (0: a failure ends the job, as before). */
  maxRestarts: number;
  /** The fewest ranks on this node a restart may run with (default: the first attempt's, no shrinking). */
  minNproc: number;
}

export interface AttemptOutcome {
  /** The attempt's exit code (0: every rank exited 0). */
  code: number;
  /** The attempt was stopped from outside (Ctrl-C, SIGTERM, an abort): never restarted. */
  stopped: boolean;
  /** Ranks that died of their own (killed by a signal the launcher did not send, or failed with an error other
   * than losing a peer); the ranks that only lost a peer or were stopped by the launcher are not counted. */
  died: number[];
}

export type Attempt = (nproc: number, restartCount: number) => Promise<AttemptOutcome>;

export function checkPolicy(p: ElasticPolicy, nproc: number): void {
  if (!Number.isInteger(p.maxRestarts) || p.maxRestarts < 0)
    throw new ConfigError(`launch: maxRestarts must be an integer >= 0, got ${p.maxRestarts}`, 'maxRestarts');
  if (!Number.isInteger(p.minNproc) || p.minNproc < 1 || p.minNproc > nproc)
    throw new ConfigError(
      `launch: minNproc must be an integer in [1, nprocPerNode = ${nproc}], got ${p.minNproc}`,
      'minNproc',
    );
}

/** The size of the next attempt: the ranks that died are taken as slots that did not come back, down to minNproc. */
export function nextNproc(nproc: number, died: number, minNproc: number): number {
  return Math.max(minNproc, Math.min(nproc, nproc - died));
}

/** Runs attempts until one succeeds, is stopped from outside, or the restarts are used up; resolves to its code. */
export async function runElastic(
  nproc: number,
  p: ElasticPolicy,
  attempt: Attempt,
  log: (line: string) => void,
): Promise<number> {
  checkPolicy(p, nproc);
  let n = nproc;
  for (let restart = 0; ; restart++) {
    const r = await attempt(n, restart);
    if (r.code === 0 || r.stopped || p.maxRestarts === 0) return r.code;
    if (restart >= p.maxRestarts) {
      log(`zerots launch: the job failed after ${restart} restart(s) (--max-restarts ${p.maxRestarts}); giving up`);
      return r.code;
    }
    const next = nextNproc(n, r.died.length, p.minNproc);
    const lost = r.died.length ? `rank(s) ${r.died.join(', ')} did not come back` : 'no rank died of its own';
    log(
      `zerots launch: restart ${restart + 1}/${p.maxRestarts}: ${lost}; restarting the job with ${next} rank(s)` +
        `${next < n ? ` (was ${n}; --min-nproc ${p.minNproc})` : ''}`,
    );
    n = next;
  }
}
