// Consolidation: every rank's segments all-gathered into full fp32 tensors by parameter name (the fp32 master
// parameters and each optimizer state). A collective, one all-gather per bucket and buffer; used by the lockstep
// tests and by `engine.consolidate()`. Costs one bucket of fp32 device memory at a time.
import { FlatBuffer } from './flat-buffer.js';
import type { SegmentTarget } from './optimizer-state.js';
import type { OptimizerStatePart } from './optimizer-part.js';
import type { ZeroPlan } from './plan.js';

export interface Consolidated {
  /** fp32 master parameters by name */
  params: Record<string, Float32Array>;
  /** optimizer state by key ('m', 'v', 'momentum'), then by parameter name */
  state: Record<string, Record<string, Float32Array>>;
}

export function consolidate(plan: ZeroPlan, target: SegmentTarget, state: OptimizerStatePart): Consolidated {
  const out: Consolidated = { params: {}, state: {} };
  for (const which of ['param', ...state.stateKeys]) {
    const byName: Record<string, Float32Array> = {};
    plan.layout.buckets.forEach((bk, b) => {
      const L = bk.layout;
      const seg = state.readSegment(which, b, target);
      let full: Float32Array;
      if (!plan.partitioned) {
        full = seg;
      } else {
        const tmp = FlatBuffer.zeros(plan.device, L.padded, 'f32', 'workspace', 'consolidate');
        try {
          const mine = tmp.comm(plan.group.rank * L.chunk, L.chunk) as Float32Array;
          mine.set(seg);
          plan.group.allGather(tmp.comm(), mine, 'f32');
          full = (tmp.comm() as Float32Array).slice();
        } finally {
          tmp.dispose();
        }
      }
      for (const e of L.entries) byName[e.name] = full.slice(e.offset, e.offset + e.numel);
    });
    if (which === 'param') out.params = byName;
    else out.state[which] = byName;
  }
  return out;
}
