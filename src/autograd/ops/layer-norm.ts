// Row-wise LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) * gamma + beta.
import type { Tape } from '../tape.js';
import type { ParamRef } from '../param-ref.js';
import { paramF32 } from '../param-value.js';
import { expectF32, expectShape, rowsCols } from './util.js';
import { Tensor } from '../../tensor/tensor.js';

export function layerNorm(tape: Tape, x: Tensor, gamma: ParamRef, beta: ParamRef, eps = 1e-5): Tensor {
  const k = tape.device.kernels;
  const dev = tape.device;
  expectF32('layerNorm', x);
  const [rows, C] = rowsCols(x);
  expectShape('layerNorm', `weight ${gamma.name}`, gamma.shape, [C]);
  expectShape('layerNorm', `bias ${beta.name}`, beta.shape, [C]);
  const y = tape.activation(x.shape, `${gamma.name} out`);
  const mean = tape.activation([rows], `${gamma.name} mean`);
  const rstd = tape.activation([rows], `${gamma.name} rstd`);
  const g = paramF32(dev, gamma);
  const b = paramF32(dev, beta);
  k.layerNormForward(y.ptr, mean.ptr, rstd.ptr, x.ptr, g.t.ptr, b.t.ptr, rows, C, eps);
  g.release();
  b.release();
  return tape.record(
    'layerNorm',
    y,
    [mean, rstd],
    (dy, [xs]) => {
      const sink = tape.gradSink(x);
      const g2 = paramF32(dev, gamma);
      // The kernel writes dX, dGamma and dBeta in one pass; where no gradient target exists, a workspace stands in.
      const scratch: Tensor[] = [];
      const work = (shape: readonly number[]): Tensor => {
        const t = Tensor.empty(dev, shape, { dtype: 'f32', category: 'workspace', label: 'layerNorm backward' });
        scratch.push(t);
        return t;
      };
      try {
        const dx = sink?.t ?? work([rows, C]);
        const gT = gamma.gradTarget();
        const bT = beta.gradTarget();
        const dg = gT ?? work([C]);
        const db = bT ?? work([C]);
        if (gT === null) k.fill(dg.ptr, 0, C);
        if (bT === null) k.fill(db.ptr, 0, C);
        k.layerNormBackward(
          dx.ptr,
          dg.ptr,
          db.ptr,
          dy.ptr,
          xs.ptr,
          mean.ptr,
          rstd.ptr,
          g2.t.ptr,
          rows,
          C,
          sink?.accumulate ?? false,
        );
        if (gT === null) gamma.accumulateGrad(dg);
        if (bT === null) beta.accumulateGrad(db);
      } finally {
        g2.release();
        for (const t of scratch) t.dispose();
      }
    },
    [x],
  );
}
