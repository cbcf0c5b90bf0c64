// GELU, tanh approximation (GPT-2's).
import type { Tensor } from '../../tensor/tensor.js';
import type { Tape } from '../tape.js';
import { expectF32 } from './util.js';

export function gelu(tape: Tape, x: Tensor): Tensor {
  const k = tape.device.kernels;
  expectF32('gelu', x);
  const y = tape.activation(x.shape, 'gelu out');
  k.geluForward(y.ptr, x.ptr, x.numel);
  return tape.record(
    'gelu',
    y,
    [],
    (dy, [xs]) => {
      const sink = tape.gradSink(x);
      if (sink !== null) k.geluBackward(sink.t.ptr, xs.ptr, dy.ptr, x.numel, sink.accumulate);
    },
    [x],
  );
}
