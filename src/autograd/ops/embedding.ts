// out[i,:] = table[idx[i],:] for i32 indices; the table's gradient is a scatter-add.
import type { Tensor } from '../../tensor/tensor.js';
import type { Tape } from '../tape.js';
import type { ParamRef } from '../param-ref.js';
import { addParamGrad, paramF32 } from '../param-value.js';
import { ShapeError } from '../../errors.js';

export function embedding(tape: Tape, idx: Tensor, table: ParamRef): Tensor {
  const k = tape.device.kernels;
  if (idx.dtype !== 'i32') throw new ShapeError(`embedding (${table.name}): indices must be i32, got ${idx.dtype}`);
  if (table.shape.length !== 2)
    throw new ShapeError(`embedding: table ${table.name} must be 2-D, got [${table.shape.join(', ')}]`);
  const [rows, C] = table.shape;
  const ids = idx.i32();
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < rows))
      throw new ShapeError(`embedding (${table.name}): index ${ids[i]} at position ${i} is outside [0, ${rows})`);
  }
  const n = idx.numel;
  const out = tape.activation([...idx.shape, C], `${table.name} out`);
  const w = paramF32(tape.device, table);
  k.embeddingForward(out.ptr, idx.ptr, w.t.ptr, n, C);
  w.release();
  return tape.record(
    'embedding',
    out,
    [],
    (dOut) => {
      addParamGrad(tape.device, table, (g) => k.embeddingBackward(g, idx.ptr, dOut.ptr, n, C));
    },
    [],
  ); // reads only the i32 indices, an input
}
