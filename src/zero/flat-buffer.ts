// A flat buffer: one device allocation of `numel` elements of one dtype, from which parameters, gradients and
// communication buffers are carved as views (a parameter's data is a view into its bucket's flat buffer; so is its
// gradient). Elements, not bytes, everywhere; `at(offset)` converts.
import { StateError, ShapeError } from '../errors.js';
import type { CommBuffer, CommDType } from '../comm/types.js';
import type { Allocation, Device, MemoryCategory } from '../tensor/device.js';
import { Tensor } from '../tensor/tensor.js';

export type FlatDType = 'f32' | 'bf16' | 'f16';

export const ELEMENT_BYTES: Readonly<Record<FlatDType, number>> = { f32: 4, bf16: 2, f16: 2 };

export class FlatBuffer {
  private alloc: Allocation | null;

  constructor(
    readonly device: Device,
    readonly numel: number,
    readonly dtype: FlatDType,
    readonly category: MemoryCategory,
    readonly label: string,
  ) {
    if (!Number.isInteger(numel) || numel < 0)
      throw new ShapeError(`flat buffer ${label}: numel ${numel} must be a whole number >= 0`);
    // 0-element buffers still take a minimal allocation so that ptr is valid.
    this.alloc = device.alloc(Math.max(numel * ELEMENT_BYTES[dtype], 4), category, label);
  }

  /** Zero-filled (padding must read as zeros, see [Note: padding of the last partition]). */
  static zeros(device: Device, numel: number, dtype: FlatDType, category: MemoryCategory, label: string): FlatBuffer {
    const b = new FlatBuffer(device, numel, dtype, category, label);
    b.fill0();
    return b;
  }

  get disposed(): boolean {
    return this.alloc === null;
  }

  get ptr(): number {
    if (this.alloc === null) throw new StateError(`flat buffer ${this.label} was disposed`);
    return this.alloc.ptr;
  }

  get bytes(): number {
    return this.numel * ELEMENT_BYTES[this.dtype];
  }

  /** Byte address of element `offset`. */
  at(offset: number): number {
    this.check(offset, 0);
    return this.ptr + offset * ELEMENT_BYTES[this.dtype];
  }

  /** A non-owning tensor over [offset, offset + prod(shape)). */
  view(offset: number, shape: readonly number[]): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    this.check(offset, n);
    return Tensor.view(this.device, this.at(offset), shape, this.dtype);
  }

  /** A typed-array view of [offset, offset + length) for the collectives. */
  comm(offset = 0, length = this.numel - offset): CommBuffer {
    this.check(offset, length);
    return this.dtype === 'f32' ? this.device.f32(this.at(offset), length) : this.device.u16(this.at(offset), length);
  }

  get commDType(): CommDType {
    return this.dtype;
  }

  fill0(offset = 0, length = this.numel - offset): void {
    this.check(offset, length);
    this.device.u8(this.at(offset), length * ELEMENT_BYTES[this.dtype]).fill(0);
  }

  dispose(): void {
    if (this.alloc !== null) this.device.free(this.alloc);
    this.alloc = null;
  }

  private check(offset: number, length: number): void {
    if (
      !(
        Number.isInteger(offset) &&
        Number.isInteger(length) &&
        offset >= 0 &&
        length >= 0 &&
        offset + length <= this.numel
      )
    ) {
      throw new ShapeError(
        `flat buffer ${this.label}: range [${offset}, ${offset + length}) outside [0, ${this.numel})`,
      );
    }
  }
}
