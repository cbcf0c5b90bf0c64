// y = x W + b with GPT-2's Conv1D layout W [in, out]; with `transposeWeight`, y = x W^T for W [out, in]
// (the LM head tied to wte [vocab, d]).
import type { Tensor } from '../../tensor/tensor.js';
import type { Tape } from '../tape.js';
import type { ParamRef } from '../param-ref.js';
import { addParamGrad, paramF32 } from '../param-value.js';
import { expectF32, expectShape, rowsCols } from './util.js';
import { ShapeError } from '../../errors.js';

export function linear(
  tape: Tape,
  x: Tensor,
  weight: ParamRef,
  bias: ParamRef | null,
  opts: { transposeWeight?: boolean } = {},
): Tensor {
  const k = tape.device.kernels;
  const tw = opts.transposeWeight ?? false;
  expectF32('linear', x);
  if (weight.shape.length !== 2)
    throw new ShapeError(`linear: weight ${weight.name} must be 2-D, got [${weight.shape.join(', ')}]`);
  const [inF, outF] = tw ? [weight.shape[1], weight.shape[0]] : [weight.shape[0], weight.shape[1]];
  const [N, cols] = rowsCols(x);
  if (cols !== inF)
    throw new ShapeError(
      `linear (${weight.name}): input has ${cols} features, weight [${weight.shape.join(', ')}] expects ${inF}`,
    );
  if (bias !== null) expectShape('linear', `bias ${bias.name}`, bias.shape, [outF]);
  const y = tape.activation([...x.shape.slice(0, -1), outF], `${weight.name} out`);
  const w = paramF32(tape.device, weight);
  try {
    k.matmul(y.ptr, x.ptr, w.t.ptr, N, outF, inF, false, tw, false);
  } finally {
    w.release();
  }
  if (bias !== null) {
    const b = paramF32(tape.device, bias);
    k.biasAdd(y.ptr, b.t.ptr, N, outF);
    b.release();
  }
  return tape.record(
    'linear',
    y,
    [],
    (dy, [xs]) => {
      const sink = tape.gradSink(x);
      if (sink !== null) {
        const w2 = paramF32(tape.device, weight);
        try {
          // dx[N,in] = dy[N,out] W^T  (or dy W when W is stored [out,in])
          k.matmul(sink.t.ptr, dy.ptr, w2.t.ptr, N, inF, outF, false, !tw, sink.accumulate);
        } finally {
          w2.release();
        }
      }
      // dW[in,out] += x^T dy  (or dW[out,in] += dy^T x)
      addParamGrad(tape.device, weight, (g) => {
        if (tw) k.matmul(g, dy.ptr, xs.ptr, outF, inF, N, true, false, true);
        else k.matmul(g, xs.ptr, dy.ptr, inF, outF, N, true, false, true);
      });
      if (bias !== null) addParamGrad(tape.device, bias, (g) => k.biasBackward(g, dy.ptr, N, outF));
    },
    [x],
  );
}
