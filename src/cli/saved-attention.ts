// `zerots bench train --attention-reference`: the attention kernel that saved the [B, nh, T, T] probabilities
// (assembly/_attention.ts, what GPT used before the fused one) put in place of the fused kernel, so the same run can
// time both (issue 9: the fused attention must not make training more than 5% slower). Each layer's forward keeps
// its probabilities in a buffer keyed by the layer's log-sum-exp pointer (unique per layer within a step), which its
// backward reads; only the timing is the point, the probabilities' bytes are not what the tape would account.
import type { Device } from '../tensor/device.js';
import type { Kernels } from '../kernels/types.js';
import type { Allocation } from '../tensor/allocator.js';

export function savedAttentionKernels(device: Device, inner: Kernels): { kernels: Kernels; dispose(): void } {
  const probs = new Map<number, Allocation>();
  let scratch: Allocation | null = null;
  const scratchFor = (B: number, T: number, C: number, nh: number): number => {
    const bytes = inner.attentionScratchBytes(B, T, C, nh);
    if (scratch === null || scratch.bytes < bytes) {
      if (scratch !== null) device.free(scratch);
      scratch = device.alloc(bytes, 'workspace', 'saved attention scratch');
    }
    return scratch.ptr;
  };
  const probsFor = (lse: number, B: number, T: number, nh: number): number => {
    let a = probs.get(lse);
    if (a === undefined || a.bytes < B * nh * T * T * 4) {
      if (a !== undefined) device.free(a);
      a = device.alloc(B * nh * T * T * 4, 'other', 'saved attention probabilities');
      probs.set(lse, a);
    }
    return a.ptr;
  };
  const kernels = new Proxy(inner, {
    get(t, prop) {
      if (prop === 'flashAttentionForward')
        return (out: number, lse: number, qkv: number, _ws: number, B: number, T: number, C: number, nh: number) =>
          t.attentionForward(out, probsFor(lse, B, T, nh), qkv, scratchFor(B, T, C, nh), B, T, C, nh);
      if (prop === 'flashAttentionBackward')
        return (
          dqkv: number,
          dout: number,
          qkv: number,
          lse: number,
          _ws: number,
          B: number,
          T: number,
          C: number,
          nh: number,
          acc: boolean,
        ) => t.attentionBackward(dqkv, dout, qkv, probsFor(lse, B, T, nh), scratchFor(B, T, C, nh), B, T, C, nh, acc);
      const v = Reflect.get(t, prop);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return {
    kernels,
    dispose: () => {
      for (const a of probs.values()) device.free(a);
      probs.clear();
      if (scratch !== null) device.free(scratch);
      scratch = null;
    },
  };
}
