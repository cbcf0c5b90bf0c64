// `zerots launch --transport threads`: each rank is a worker thread of the launcher (src/launch/threads.ts) that
// runs this export, which makes the thread's RankContext what initFromEnv() returns and then imports the script.
// The rank finishes when the script's module evaluation (top-level await included) finishes.
import type { RankContext } from './spawn.js';
import { setLaunchedRank } from './index.js';

export async function runScript(ctx: RankContext, a: { script: string; argv: string[] }): Promise<null> {
  setLaunchedRank(ctx, a.argv);
  await import(a.script);
  return null;
}
