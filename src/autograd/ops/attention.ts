// Causal multi-head self-attention over GPT-2's packed qkv [B, T, 3C] -> [B, T, C], fused: forward saves one
// log-sum-exp per (batch, head, row), never the [B, nh, T, T] probabilities; backward recomputes them block by
// block from qkv ([Note: flash blocks] in src/kernels/assembly/_flash.ts). Activation bytes per token therefore do
// not depend on T (src/nn/activation-bytes.ts).
import { Tensor } from '../../tensor/tensor.js';
import type { Tape } from '../tape.js';
import { expectF32, expectShape } from './util.js';
import { ShapeError } from '../../errors.js';

export function causalAttention(tape: Tape, qkv: Tensor, nHead: number): Tensor {
  const k = tape.device.kernels;
  const dev = tape.device;
  expectF32('causalAttention', qkv);
  if (qkv.shape.length !== 3 || qkv.shape[2] % 3 !== 0) {
    throw new ShapeError(`causalAttention: qkv must be [B, T, 3C], got [${qkv.shape.join(', ')}]`);
  }
  const [B, T, C3] = qkv.shape;
  const C = C3 / 3;
  if (!(Number.isInteger(nHead) && nHead > 0 && C % nHead === 0)) {
    throw new ShapeError(`causalAttention: ${nHead} heads do not divide the width ${C}`);
  }
  const out = tape.activation([B, T, C], 'attention out');
  const lse = tape.activation([B, nHead, T], 'attention log-sum-exp');
  const scratchBytes = k.flashAttentionScratchBytes(B, T, C, nHead);
  const withScratch = (fn: (ptr: number) => void): void => {
    const s = Tensor.empty(dev, [Math.ceil(scratchBytes / 4)], {
      dtype: 'f32',
      category: 'workspace',
      label: 'attention scratch',
    });
    try {
      fn(s.ptr);
    } finally {
      s.dispose();
    }
  };
  withScratch((s) => k.flashAttentionForward(out.ptr, lse.ptr, qkv.ptr, s, B, T, C, nHead));
  return tape.record(
    'causalAttention',
    out,
    [lse],
    (dOut, [q]) => {
      const sink = tape.gradSink(qkv);
      if (sink === null) return;
      expectShape('causalAttention backward', 'dqkv', sink.t.shape, qkv.shape);
      withScratch((s) =>
        k.flashAttentionBackward(sink.t.ptr, dOut.ptr, q.ptr, lse.ptr, s, B, T, C, nHead, sink.accumulate),
      );
    },
    [qkv],
  );
}
