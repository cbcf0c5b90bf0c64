// out = a + b (the residual connections).
import type { Tensor } from '../../tensor/tensor.js';
import type { Tape } from '../tape.js';
import { expectF32, expectShape } from './util.js';

export function add(tape: Tape, a: Tensor, b: Tensor): Tensor {
  const k = tape.device.kernels;
  expectF32('add', a);
  expectF32('add', b);
  expectShape('add', 'b', b.shape, a.shape);
  const out = tape.activation(a.shape, 'add out');
  k.add(out.ptr, a.ptr, b.ptr, a.numel);
  return tape.record(
    'add',
    out,
    [],
    (dOut) => {
      for (const x of [a, b]) {
        const sink = tape.gradSink(x);
        if (sink === null) continue;
        if (sink.accumulate) k.add(sink.t.ptr, sink.t.ptr, dOut.ptr, x.numel);
        else k.copy(sink.t.ptr, dOut.ptr, x.bytes);
      }
    },
    [],
  );
}
