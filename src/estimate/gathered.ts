// Stage 3's gathered parameters at their peak, for a GPT: the engine's rules replayed over one steady-state step
// (the fetch order is known from the second step on). The gather units are cut as src/zero/gather-units.ts cuts
// the module tree (a subtree of at most min(prefetch, max live) fresh elements is one group, else its root's own
// parameters and its children cut the same way; the tied LM head uses the embedding's group); each unit acquires
// its groups before its forward and backward and lets them go after, a checkpointed block's recompute acquires its
// units and keeps them until each one's backward ([Note: recompute hooks] in src/nn/module.ts). The schedule is
// src/zero/fetch-schedule.ts's and the fetcher's (src/zero/param-fetcher.ts): after each acquisition the next
// groups of the order are prefetched while the prefetch budget lasts (the group that crosses it included), a group
// let go stays gathered when it is persistent (fewer elements than the persistence threshold) or acquired again
// within the reuse distance, the end of forward and of backward releases idle groups that are neither, and the
// step releases everything. Counting elements, not bytes; the alignment between parameters is left out.
import { FetchSchedule } from '../zero/fetch-schedule.js';
import type { GptDims } from './peak.js';

export interface GatherRules {
  prefetch: number;
  persistence: number;
  reuse: number;
  maxLive: number;
  /** per block: whether its forward is recomputed in backward */
  checkpointed: readonly boolean[];
}

export interface GatheredPeak {
  /** most elements gathered at once over the step */
  peak: number;
  /** elements still gathered when backward ends (what the optimizer step sees beside its workspace) */
  atStep: number;
}

interface Node {
  own: number;
  children: Node[];
  block?: number;
  /** the tied LM head: uses the embedding's group */
  tied?: boolean;
}

interface Unit {
  groups: number[];
  block?: number;
}

function gptTree(m: GptDims): Node {
  const C = m.nEmbd;
  const leaf = (own: number, block?: number): Node => ({ own, children: [], block });
  const blocks = Array.from({ length: m.nLayer }, (_, l) => ({
    own: 0,
    block: l,
    children: [
      leaf(2 * C, l),
      { own: 0, block: l, children: [leaf(3 * C * C + 3 * C, l), leaf(C * C + C, l)] },
      leaf(2 * C, l),
      { own: 0, block: l, children: [leaf(4 * C * C + 4 * C, l), leaf(4 * C * C + C, l)] },
    ],
  }));
  const wte = leaf(m.vocabSize * C);
  return {
    own: 0,
    children: [wte, leaf(m.blockSize * C), ...blocks, leaf(2 * C), { own: 0, children: [], tied: true }],
  };
}

/** The units in forward order and the groups' sizes, cut as gather-units.ts cuts them. */
function cut(root: Node, bound: number): { units: Unit[]; sizes: number[] } {
  const sizes: number[] = [];
  const units: Unit[] = [];
  let wteGroup = -1;
  const total = (n: Node): number => n.own + n.children.reduce((s, c) => s + total(c), 0);
  const take = (n: Node, elems: number) => {
    if (n.tied) {
      if (wteGroup >= 0) units.push({ groups: [wteGroup], block: n.block });
      return;
    }
    if (elems === 0) return;
    sizes.push(elems);
    if (wteGroup < 0) wteGroup = sizes.length - 1; // the first group is the embedding's
    units.push({ groups: [sizes.length - 1], block: n.block });
  };
  const visit = (n: Node): void => {
    if (n.tied || total(n) <= bound) {
      take(n, total(n));
      return;
    }
    take(n, n.own);
    for (const c of n.children) visit(c);
  };
  visit(root);
  return { units, sizes };
}

/** Replays one steady-state step of the stage-3 fetcher (see the file header). */
export function gptGatheredPeak(m: GptDims, r: GatherRules): GatheredPeak {
  const { units, sizes } = cut(gptTree(m), Math.min(r.prefetch, r.maxLive));
  // the step's events: acquire (a), let go (g), end of a pass (e)
  const ev: [kind: 'a' | 'g' | 'e', group: number][] = [];
  const use = (u: Unit, kind: 'a' | 'g') => {
    for (const b of u.groups) ev.push([kind, b]);
  };
  for (const u of units) {
    use(u, 'a');
    use(u, 'g');
  }
  ev.push(['e', -1]);
  const back = [...units].reverse();
  for (let i = 0; i < back.length; i++) {
    const u = back[i]!;
    const l = u.block;
    if (l !== undefined && r.checkpointed[l] && (i === 0 || back[i - 1]!.block !== l))
      for (const v of units) if (v.block === l) use(v, 'a'); // the block's recompute
    use(u, 'a');
    if (l !== undefined && r.checkpointed[l]) use(u, 'g'); // postRecompute, right after the pre-backward hooks
    use(u, 'g');
  }
  ev.push(['e', -1]);
  // the engine's schedule, its trace recorded as the first step records it
  const schedule = new FetchSchedule(sizes, {
    prefetchElements: r.prefetch,
    maxReuseDistance: r.reuse,
    maxLiveElements: r.maxLive,
  });
  for (const [kind, b] of ev) if (kind === 'a') schedule.acquired(b);
  schedule.endStep();
  const persistent = sizes.map((s) => s < r.persistence);
  const gathered = sizes.map(() => false);
  const refs = sizes.map(() => 0);
  let live = 0;
  let peak = 0;
  const idle = (b: number) => gathered[b] && refs[b] === 0 && !persistent[b];
  const release = (b: number) => {
    if (!gathered[b]) return;
    gathered[b] = false;
    live -= sizes[b]!;
  };
  const gather = (b: number) => {
    const idleNow = sizes.map((_, x) => x).filter(idle);
    for (const x of schedule.evictions(live, sizes[b]!, idleNow)) release(x);
    gathered[b] = true;
    live += sizes[b]!;
    peak = Math.max(peak, live);
  };
  for (const [kind, b] of ev) {
    if (kind === 'a') {
      schedule.acquired(b);
      if (!gathered[b]) gather(b);
      refs[b]++;
      for (const w of schedule.window()) {
        if (gathered[w]) continue;
        if (!schedule.fits(live, sizes[w]!)) break;
        gather(w);
      }
    } else if (kind === 'g') {
      refs[b]--;
      if (refs[b] === 0 && !persistent[b] && !schedule.reusedSoon(b)) release(b);
    } else {
      const ahead = schedule.window();
      sizes.forEach((_, x) => {
        if (idle(x) && !ahead.has(x) && !schedule.reusedSoon(x)) release(x);
      });
    }
  }
  return { peak, atStep: live };
}
