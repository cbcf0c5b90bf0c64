// Mean cross-entropy of logits [..., V] against i32 targets [...]; a target < 0 is ignored (no loss, no gradient)
// and the mean is over the targets that count, as PyTorch's F.cross_entropy(ignore_index=-1).
import { Tensor } from '../../tensor/tensor.js';
import type { Tape } from '../tape.js';
import { expectF32, rowsCols } from './util.js';
import { ShapeError } from '../../errors.js';

export function crossEntropy(tape: Tape, logits: Tensor, targets: Tensor): Tensor {
  const k = tape.device.kernels;
  expectF32('crossEntropy', logits);
  const [N, V] = rowsCols(logits);
  if (targets.dtype !== 'i32' || targets.numel !== N) {
    throw new ShapeError(
      `crossEntropy: targets must be i32 with ${N} elements (one per logits row), got ${targets.dtype} [${targets.shape.join(', ')}]`,
    );
  }
  const tg = targets.i32();
  let count = 0;
  for (let i = 0; i < N; i++) {
    if (tg[i] >= V)
      throw new ShapeError(`crossEntropy: target ${tg[i]} at row ${i} is outside [0, ${V}) (negative means ignored)`);
    if (tg[i] >= 0) count++;
  }
  const losses = Tensor.empty(tape.device, [N], { dtype: 'f32', category: 'workspace', label: 'per-row losses' });
  let sum = 0;
  try {
    k.crossEntropyForward(losses.ptr, logits.ptr, targets.ptr, N, V);
    const l = losses.f32();
    for (let i = 0; i < N; i++) sum += l[i];
  } finally {
    losses.dispose();
  }
  const out = tape.activation([1], 'loss');
  out.f32()[0] = count > 0 ? sum / count : 0;
  return tape.record(
    'crossEntropy',
    out,
    [],
    (dOut, [lg]) => {
      const sink = tape.gradSink(logits);
      if (sink === null || count === 0) return;
      const dscale = dOut.f32()[0] / count;
      if (!sink.accumulate) {
        k.crossEntropyBackward(sink.t.ptr, lg.ptr, targets.ptr, N, V, dscale);
        return;
      }
      const tmp = Tensor.empty(tape.device, logits.shape, { dtype: 'f32', category: 'workspace', label: 'dlogits' });
      try {
        k.crossEntropyBackward(tmp.ptr, lg.ptr, targets.ptr, N, V, dscale);
        k.add(sink.t.ptr, sink.t.ptr, tmp.ptr, logits.numel);
      } finally {
        tmp.dispose();
      }
    },
    [logits],
  );
}
