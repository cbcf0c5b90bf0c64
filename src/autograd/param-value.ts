// An op's fp32 view of a parameter for the duration of one kernel call.
// [Note: 16-bit parameter storage] data may be bf16/f16; compute is always fp32, so the op casts into a
// 'workspace' tensor and frees it right after use. fp32 data is used in place.
import { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import { ShapeError } from '../errors.js';
import type { ParamRef } from './param-ref.js';

export interface ParamValue {
  readonly t: Tensor;
  release(): void;
}

const noop = (): void => {};

export function paramF32(device: Device, p: ParamRef): ParamValue {
  const data = p.value();
  if (data.numel !== p.numel) {
    throw new ShapeError(
      `parameter ${p.name}: data has ${data.numel} elements, expected ${p.numel} (shape [${p.shape.join(', ')}])`,
    );
  }
  if (data.dtype === 'f32') return { t: data, release: noop };
  if (data.dtype !== 'bf16' && data.dtype !== 'f16') {
    throw new ShapeError(
      `parameter ${p.name}: dtype ${data.dtype} is not a float storage type; allowed f32, bf16, f16`,
    );
  }
  const t = Tensor.empty(device, p.shape, { dtype: 'f32', category: 'workspace', label: `${p.name} (fp32 copy)` });
  device.kernels.castFromHalf(t.ptr, data.ptr, p.numel, data.dtype, false);
  return { t, release: () => t.dispose() };
}

/**
 * Calls `accumulate(ptr)`, which must ADD the op's gradient contribution for `p` at ptr: straight into the
 * parameter's fp32 gradient when it offers one, else into a zeroed workspace handed to accumulateGrad.
 * (Always accumulating suits the kernels: bias, embedding and LayerNorm parameter gradients only accumulate.)
 */
export function addParamGrad(device: Device, p: ParamRef, accumulate: (ptr: number) => void): void {
  const target = p.gradTarget();
  if (target !== null) {
    accumulate(target.ptr);
    return;
  }
  const g = Tensor.empty(device, p.shape, {
    dtype: 'f32',
    category: 'workspace',
    label: `${p.name} (grad contribution)`,
  });
  try {
    device.kernels.fill(g.ptr, 0, p.numel);
    accumulate(g.ptr);
    p.accumulateGrad(g);
  } finally {
    g.dispose();
  }
}
