// Tensor: a typed, shaped, contiguous region of one device's memory. Owning tensors hold an Allocation and free it
// on dispose(); views (Tensor.view, reshape) borrow memory owned by someone else (a flat buffer, a parent tensor).
// There are no strides: every tensor is row-major and contiguous, which is what the kernels take.
import { ShapeError, StateError } from '../errors.js';
import type { Device } from './device.js';
import type { Allocation, MemoryCategory } from './allocator.js';
import { DTYPE_BYTES, f32ToBf16Array, f32ToF16Array, halfToF32Array } from './dtype.js';
import type { DType } from './dtype.js';

export type { DType } from './dtype.js';

export interface TensorOptions {
  dtype?: DType;
  /** Accounting category of an owning tensor (default 'other'). */
  category?: MemoryCategory;
  label?: string;
}

function checkShape(shape: readonly number[], where: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError(
        `${where}: shape [${shape.join(', ')}] has dimension ${d}; dimensions must be non-negative integers`,
      );
    }
    n *= d;
  }
  return n;
}

export class Tensor {
  readonly device: Device;
  readonly ptr: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly numel: number;
  readonly bytes: number;
  readonly owning: boolean;
  /** The allocation of an owning tensor (null for views). */
  readonly allocation: Allocation | null;
  private disposedFlag = false;

  private constructor(
    device: Device,
    ptr: number,
    shape: readonly number[],
    dtype: DType,
    allocation: Allocation | null,
  ) {
    this.device = device;
    this.ptr = ptr;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.numel = checkShape(shape, 'Tensor');
    this.bytes = this.numel * DTYPE_BYTES[dtype];
    this.owning = allocation !== null;
    this.allocation = allocation;
  }

  /** Uninitialised contents (whatever the memory held before). */
  static empty(device: Device, shape: readonly number[], opts: TensorOptions = {}): Tensor {
    const dtype = opts.dtype ?? 'f32';
    if (!(dtype in DTYPE_BYTES))
      throw new ShapeError(`Tensor.empty: dtype "${dtype}" is not one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    const numel = checkShape(shape, `Tensor.empty(${opts.label ?? ''})`);
    const a = device.alloc(numel * DTYPE_BYTES[dtype], opts.category ?? 'other', opts.label);
    return new Tensor(device, a.ptr, shape, dtype, a);
  }

  static zeros(device: Device, shape: readonly number[], opts: TensorOptions = {}): Tensor {
    const t = Tensor.empty(device, shape, opts);
    device.u8(t.ptr, t.bytes).fill(0);
    return t;
  }

  /** Copies `data` in; for bf16/f16 the numbers are rounded (to nearest even), for i32 truncated by Int32Array. */
  static fromArray(
    device: Device,
    data: ArrayLike<number>,
    shape: readonly number[],
    opts: TensorOptions = {},
  ): Tensor {
    const numel = checkShape(shape, 'Tensor.fromArray');
    if (data.length !== numel) {
      throw new ShapeError(
        `Tensor.fromArray${opts.label ? ` ("${opts.label}")` : ''}: ${data.length} values do not fill shape ` +
          `[${shape.join(', ')}] (${numel} elements)`,
      );
    }
    const t = Tensor.empty(device, shape, opts);
    switch (t.dtype) {
      case 'f32':
        t.f32().set(data);
        break;
      case 'i32':
        t.i32().set(data);
        break;
      case 'bf16':
        f32ToBf16Array(Float32Array.from(data), t.u16());
        break;
      case 'f16':
        f32ToF16Array(Float32Array.from(data), t.u16());
        break;
    }
    return t;
  }

  /** A non-owning tensor over memory at `ptr` (its owner frees it). */
  static view(device: Device, ptr: number, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const align = DTYPE_BYTES[dtype];
    if (!Number.isInteger(ptr) || ptr < 0 || ptr % align !== 0) {
      throw new ShapeError(
        `Tensor.view: ptr ${ptr} is not a valid ${dtype} address (non-negative, multiple of ${align})`,
      );
    }
    const t = new Tensor(device, ptr, shape, dtype, null);
    if (ptr + t.bytes > device.capacityBytes) {
      throw new ShapeError(
        `Tensor.view: [${shape.join(', ')}] ${dtype} at ${ptr} ends at ${ptr + t.bytes}, past the device capacity ${device.capacityBytes}`,
      );
    }
    return t;
  }

  /** A non-owning view with another shape of the same number of elements. */
  reshape(shape: readonly number[]): Tensor {
    this.checkLive('reshape');
    const n = checkShape(shape, 'Tensor.reshape');
    if (n !== this.numel)
      throw new ShapeError(
        `Tensor.reshape: [${this.shape.join(', ')}] has ${this.numel} elements, [${shape.join(', ')}] has ${n}`,
      );
    return new Tensor(this.device, this.ptr, shape, this.dtype, null);
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  f32(): Float32Array {
    this.checkAccess('f32', ['f32']);
    return this.device.f32(this.ptr, this.numel);
  }

  u16(): Uint16Array {
    this.checkAccess('u16', ['bf16', 'f16']);
    return this.device.u16(this.ptr, this.numel);
  }

  i32(): Int32Array {
    this.checkAccess('i32', ['i32']);
    return this.device.i32(this.ptr, this.numel);
  }

  /** A copy as fp32 (16-bit formats decoded exactly, i32 converted). */
  toFloat32(): Float32Array {
    this.checkLive('toFloat32');
    switch (this.dtype) {
      case 'f32':
        return this.f32().slice();
      case 'i32':
        return Float32Array.from(this.i32());
      case 'bf16':
      case 'f16':
        return halfToF32Array(this.u16(), this.dtype);
    }
  }

  /** Frees an owning tensor (once; later calls do nothing). A view's dispose is a no-op. */
  dispose(): void {
    if (this.disposedFlag || this.allocation === null) return;
    this.disposedFlag = true;
    if (this.allocation !== null) this.device.free(this.allocation);
  }

  toString(): string {
    return (
      `Tensor(${this.dtype} [${this.shape.join(', ')}] at ` +
      `${this.ptr}${this.owning ? '' : ', view'}${this.disposedFlag ? ', disposed' : ''})`
    );
  }

  private checkLive(what: string): void {
    if (this.disposedFlag)
      throw new StateError(`${what}: ${this.toString()} was disposed; its memory may belong to another tensor now`);
  }

  private checkAccess(what: string, allowed: DType[]): void {
    this.checkLive(what);
    if (!allowed.includes(this.dtype)) {
      throw new StateError(
        `${what}(): ${this.toString()} has dtype ${this.dtype}; ${what}() reads ${allowed.join(' or ')} tensors`,
      );
    }
  }
}
