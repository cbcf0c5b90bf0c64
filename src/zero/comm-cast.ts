// communication_data_type: reducing gradients in another dtype than they are kept in (DeepSpeed's option; e.g.
// bf16 training with fp32 reductions, so the sum over ranks rounds once, not at every hop of the ring). A bucket is
// cast into a 'comm' buffer of the communication dtype, reduced there, and the result cast back: rounding to the
// gradient dtype happens once, after the reduction.
import type { Device } from '../tensor/device.js';
import { FlatBuffer, type FlatDType } from './flat-buffer.js';

/** dst[0..n) (dstType) = src[0..n) (srcType), addresses in bytes; one rounding when narrowing. */
export function castRange(
  device: Device,
  dst: number,
  dstType: FlatDType,
  src: number,
  srcType: FlatDType,
  n: number,
): void {
  const k = device.kernels;
  if (n === 0) return;
  if (srcType === dstType) {
    device.u8(dst, n * (srcType === 'f32' ? 4 : 2)).set(device.u8(src, n * (srcType === 'f32' ? 4 : 2)));
  } else if (srcType === 'f32') k.castToHalf(dst, src, n, dstType as 'bf16' | 'f16');
  else if (dstType === 'f32') k.castFromHalf(dst, src, n, srcType, false);
  else {
    const ws = device.alloc(4 * n, 'workspace', 'comm cast');
    try {
      k.castFromHalf(ws.ptr, src, n, srcType, false);
      k.castToHalf(dst, ws.ptr, n, dstType);
    } finally {
      device.free(ws);
    }
  }
}

/** A 'comm' buffer of `n` elements of `dtype` holding `src` (of `srcType`) cast. */
export function castedCopy(device: Device, src: number, srcType: FlatDType, n: number, dtype: FlatDType): FlatBuffer {
  const b = new FlatBuffer(device, n, dtype, 'comm', `gradients cast to ${dtype} for the reduction`);
  castRange(device, b.ptr, dtype, src, srcType, n);
  return b;
}
