// Shape helpers shared by the ops.
import { ShapeError } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';

/** Rows and columns of `x` seen as a matrix [prod(leading dims), last dim]. */
export function rowsCols(x: Tensor): [number, number] {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return [cols === 0 ? 0 : x.numel / cols, cols];
}

export function expectF32(op: string, x: Tensor): void {
  if (x.dtype !== 'f32')
    throw new ShapeError(`${op}: activations must be f32, got ${x.dtype} (shape [${x.shape.join(', ')}])`);
}

export function expectShape(op: string, what: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new ShapeError(`${op}: ${what} has shape [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
}
