// Stage 3's gather units: which modules gather parameters around their forward and backward, and which parameters
// each gathers as one flat group (one all-gather before use, one reduce-scatter of its gradient).
//
// [Note: coalesced gather units]
// One all-gather per module makes a small model's step a long chain of small collectives, each paying the ranks'
// waiting for one another (measured: 73 collectives per step for a 4-layer GPT, against 4-9 for stages 0-2). As
// FSDP wraps a transformer block and DeepSpeed coalesces the fetch of up to stage3_prefetch_bucket_size elements,
// the module tree is cut top-down: a subtree whose parameters not yet grouped total at most `bound` elements is one
// unit (its root's hooks gather them all, its descendants hook nothing); a larger subtree's root gathers its own
// parameters and its children are cut the same way. The bound is min(stage3_prefetch_bucket_size,
// stage3_max_live_parameters): what the configuration already allows to be gathered ahead, and never more than the
// live cap, so the cap is still met with whole groups (a single module above the cap is still one group). A bound
// of 0 gives one group per module. A unit also gathers the groups of shared parameters its modules use (GPT's LM
// head inside a unit gathers the tied wte's group, which the embedding created).
import type { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';

export interface GatherUnit {
  /** the module whose forward/backward hooks gather and release */
  readonly module: Module;
  /** parameters (layout indices, ascending) first grouped here: this unit's new group, empty if none */
  readonly own: readonly number[];
  /** every parameter the unit's modules use directly (own ones and shared ones grouped earlier), ascending */
  readonly uses: readonly number[];
}

/**
 * Cuts the module tree into gather units (see [Note: coalesced gather units]); units come in tree order (parents
 * before children, children in registration order), which for GPT is the forward's execution order.
 */
export function gatherUnits(root: Module, params: readonly Parameter[], bound: number): GatherUnit[] {
  const index = new Map(params.map((p, i) => [p, i]));
  const grouped = new Set<number>();
  const units: GatherUnit[] = [];
  const used = (ms: readonly Module[]): number[] =>
    [
      ...new Set(
        ms.flatMap((m) =>
          m
            .directParameters()
            .map((p) => index.get(p))
            .filter((i): i is number => i !== undefined),
        ),
      ),
    ].sort((a, b) => a - b);
  const take = (module: Module, uses: number[]): void => {
    const own = uses.filter((i) => !grouped.has(i));
    own.forEach((i) => grouped.add(i));
    units.push({ module, own, uses });
  };
  const visit = (m: Module): void => {
    const subtree = used(m.modules());
    const fresh = subtree.reduce((s, i) => s + (grouped.has(i) ? 0 : params[i].numel), 0);
    if (fresh <= bound) {
      take(m, subtree);
      return;
    }
    take(m, used([m]));
    for (const c of m.children()) visit(c);
  };
  visit(root);
  return units.filter((u) => u.uses.length > 0);
}
