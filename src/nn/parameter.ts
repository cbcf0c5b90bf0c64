// Parameter: a named model weight whose data may come and go (ZeRO stage 3 releases it between uses).
// Implements autograd's ParamRef: ops read it with value() and hand gradients to accumulateGrad.
import { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import type { ParamRef } from '../autograd/param-ref.js';
import { ShapeError, StateError } from '../errors.js';
import { initInto, type InitSpec } from './init.js';

/** Storage types a parameter's data may have (compute is fp32). */
export type ParamDType = 'f32' | 'bf16' | 'f16';

export class Parameter implements ParamRef {
  readonly numel: number;
  /** The data, or null while released (stage 3). May be 16-bit; ops cast to fp32. */
  data: Tensor | null = null;
  /** The default gradient: fp32, category 'grad', allocated at the first accumulateGrad (when onGrad is unset). */
  grad: Tensor | null = null;
  /** Set by an engine: makes `data` present again (e.g. all-gathers the shards). Called by value() when data is null. */
  onFetch: (() => void) | null = null;
  /** Set by an engine: consumes a gradient contribution (e.g. adds it into a flat bucket). Replaces the default. */
  onGrad: ((g: Tensor) => void) | null = null;

  constructor(
    /** GPT-2 state-dict name, e.g. `h.0.attn.c_attn.weight`. */
    readonly name: string,
    readonly shape: readonly number[],
    readonly init: InitSpec,
    /** Seed of the model's initialisation (see [Note: shard-local init] in init.ts). */
    readonly seed: number,
    /** The device its data, when present, and its default gradient live on. */
    readonly device: Device,
  ) {
    this.numel = shape.reduce((a, b) => a * b, 1);
  }

  /** The data, fetching it through onFetch when released. */
  value(): Tensor {
    if (this.data === null) {
      if (this.onFetch === null)
        throw new StateError(`parameter ${this.name}: data is released and no fetch hook (onFetch) is set`);
      this.onFetch();
      if (this.data === null)
        throw new StateError(`parameter ${this.name}: the fetch hook returned without setting data`);
    }
    return this.data;
  }

  accumulateGrad(g: Tensor): void {
    if (g.numel !== this.numel || g.dtype !== 'f32') {
      throw new ShapeError(
        `parameter ${this.name}: gradient must be f32 with ${this.numel} elements, got ${g.dtype} [${g.shape.join(', ')}]`,
      );
    }
    if (this.onGrad !== null) {
      this.onGrad(g);
      return;
    }
    const target = this.ensureGrad();
    this.device.kernels.add(target.ptr, target.ptr, g.ptr, this.numel);
  }

  gradTarget(): Tensor | null {
    if (this.onGrad !== null) return null;
    return this.ensureGrad();
  }

  /** Elements [start, start + out.length) of the initial value (pure in seed, name, index). */
  initInto(out: Float32Array, start: number): void {
    if (!(Number.isInteger(start) && start >= 0 && start + out.length <= this.numel)) {
      throw new ShapeError(
        `parameter ${this.name}: initInto range [${start}, ${start + out.length}) is outside [0, ${this.numel})`,
      );
    }
    initInto(this.init, this.seed, this.name, out, start);
  }

  /** Allocates data (category 'param') of the given storage type and fills it with the initial value. */
  materialize(dtype: ParamDType = 'f32'): void {
    if (this.data !== null) throw new StateError(`parameter ${this.name}: already has data`);
    const init = new Float32Array(this.numel);
    this.initInto(init, 0);
    this.data = Tensor.fromArray(this.device, init, this.shape, { dtype, category: 'param', label: this.name });
  }

  /** Overwrites the data with `values` (fp32, rounded when the storage is 16-bit). */
  load(values: ArrayLike<number>): void {
    const d = this.value();
    if (values.length !== this.numel)
      throw new ShapeError(`parameter ${this.name}: load got ${values.length} values, expected ${this.numel}`);
    const tmp = Tensor.fromArray(this.device, values, this.shape, {
      dtype: d.dtype,
      category: 'workspace',
      label: `${this.name} load`,
    });
    this.device.kernels.copy(d.ptr, tmp.ptr, d.bytes);
    tmp.dispose();
  }

  /** Frees the data (owning tensors only; views belong to a flat buffer). */
  release(): void {
    this.data?.dispose();
    this.data = null;
  }

  /** Zeroes the default gradient in place (keeps its memory). */
  zeroGrad(): void {
    if (this.grad !== null) this.device.kernels.fill(this.grad.ptr, 0, this.numel);
  }

  /** Frees the default gradient. */
  freeGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  private ensureGrad(): Tensor {
    if (this.grad === null) {
      this.grad = Tensor.zeros(this.device, this.shape, { dtype: 'f32', category: 'grad', label: `${this.name}.grad` });
    }
    return this.grad;
  }
}
