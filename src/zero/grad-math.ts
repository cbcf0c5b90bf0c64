// Adding fp32 gradients into flat buffers of the gradient dtype, and flat ranges into each other. 16-bit targets go
// through an fp32 workspace (decode, add, round once), so every addition rounds exactly once.
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import { ELEMENT_BYTES, type FlatDType } from './flat-buffer.js';

/** dst[0..n) (dtype) += src[0..n) (fp32), addresses in bytes. */
export function addF32Into(device: Device, dst: number, dtype: FlatDType, src: number, n: number): void {
  const k = device.kernels;
  if (dtype === 'f32') {
    k.add(dst, dst, src, n);
    return;
  }
  const ws = device.alloc(Math.max(4 * n, 4), 'workspace', 'grad add');
  try {
    k.castFromHalf(ws.ptr, dst, n, dtype, false);
    k.add(ws.ptr, ws.ptr, src, n);
    k.castToHalf(dst, ws.ptr, n, dtype);
  } finally {
    device.free(ws);
  }
}

/** dst[0..n) += src[0..n), both of `dtype`. */
export function addSame(device: Device, dst: number, src: number, n: number, dtype: FlatDType): void {
  if (dtype === 'f32') {
    device.kernels.add(dst, dst, src, n);
    return;
  }
  const ws = device.alloc(Math.max(4 * n, 4), 'workspace', 'grad add');
  try {
    device.kernels.castFromHalf(ws.ptr, dst, n, dtype, false);
    device.kernels.castFromHalf(ws.ptr, src, n, dtype, true);
    device.kernels.castToHalf(dst, ws.ptr, n, dtype);
  } finally {
    device.free(ws);
  }
}

export function addTensorInto(device: Device, dst: number, dtype: FlatDType, g: Tensor): void {
  addF32Into(device, dst, dtype, g.ptr, g.numel);
}

export function bytesOf(dtype: FlatDType, n: number): number {
  return ELEMENT_BYTES[dtype] * n;
}
