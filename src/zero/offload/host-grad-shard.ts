// The rank's reduced gradient shard in host memory (ZeRO-Offload: gradients go to the host as they are reduced).
// The partitioned reducer adds each bucket's reduced chunk into it right after the bucket's reduce-scatter, so the
// device holds only the bucket-sized staging buffers, whatever the model size. The addition runs in blocks through
// a small workspace in the shard's own arena with the same kernels and the same rounding as the device's (decode,
// add, round once), so the sums are bit-identical; the optimizer step and the norm read the shard where it is.
import { ShapeError, StateError } from '../../errors.js';
import type { CommBuffer } from '../../comm/types.js';
import type { Kernels } from '../../kernels/types.js';
import type { Device } from '../../tensor/device.js';
import type { HostAllocation, HostMemory } from '../../tensor/host.js';
import { ELEMENT_BYTES, type FlatDType } from '../flat-buffer.js';
import { hostView, type FlatStorage } from '../host-flat.js';
import { hostExhausted } from './sub-group-store.js';

const BLOCK = 8192;
/** Host bytes of the blocked addition's workspace, beside the shard (the estimator counts them). */
export const GRAD_ADD_WORKSPACE_BYTES = BLOCK * 8;

export class HostGradShard implements FlatStorage {
  private shard: HostAllocation | null;
  private readonly ws: HostAllocation;
  private readonly k: Kernels;

  constructor(
    private readonly host: HostMemory,
    private readonly device: Device,
    readonly numel: number,
    readonly dtype: FlatDType,
  ) {
    const bytes = Math.max(4, numel * ELEMENT_BYTES[dtype]);
    let parts: HostAllocation[] = [];
    try {
      parts = host.allocGroup([
        { bytes, category: 'grad', label: 'gradients (own partition, offloaded)' },
        { bytes: GRAD_ADD_WORKSPACE_BYTES, category: 'workspace', label: 'offloaded gradient add' },
      ]);
    } catch (e) {
      hostExhausted(
        e,
        `the offloaded gradient shard (${numel} elements of ${dtype})`,
        bytes,
        host,
        'Use more ranks or more host memory.',
      );
    }
    [this.shard, this.ws] = parts as [HostAllocation, HostAllocation];
    host.u8(this.shard).fill(0);
    this.k = host.kernelsOf(this.shard);
  }

  comm(offset = 0, length = this.numel - offset): CommBuffer {
    const a = this.live();
    if (!(offset >= 0 && length >= 0 && offset + length <= this.numel))
      throw new ShapeError(
        `offloaded gradient shard: range [${offset}, ${offset + length}) outside [0, ${this.numel})`,
      );
    return hostView(this.host, a, this.dtype, this.numel, offset, length);
  }

  at(): number {
    throw new StateError('the offloaded gradient shard is in host memory: it has no device address');
  }

  /** shard[offset, +n) += the device's [src, +n) (both of the gradient dtype), rounding once, as addSame. */
  addFromDevice(offset: number, src: number, n: number): void {
    const a = this.live();
    const eb = ELEMENT_BYTES[this.dtype];
    const mem = this.host.u8(a).buffer;
    const dst = new Uint8Array(mem);
    const from = new Uint8Array(this.device.memory.buffer);
    const tmp = this.ws.ptr; // the chunk copied from the device
    const ws32 = this.ws.ptr + BLOCK * 4; // fp32 sums for 16-bit
    for (let j = 0; j < n; j += BLOCK) {
      const len = Math.min(BLOCK, n - j);
      const d = a.ptr + (offset + j) * eb;
      dst.set(from.subarray(src + j * eb, src + (j + len) * eb), tmp);
      if (this.dtype === 'f32') {
        this.k.add(d, d, tmp, len);
      } else {
        this.k.castFromHalf(ws32, d, len, this.dtype, false);
        this.k.castFromHalf(ws32, tmp, len, this.dtype, true);
        this.k.castToHalf(d, ws32, len, this.dtype);
      }
    }
  }

  /** Sum of squares of [offset, +n) in f64, with the kernels the device uses. */
  sumSquares(offset: number, n: number): number {
    const a = this.live();
    const p = a.ptr + offset * ELEMENT_BYTES[this.dtype];
    return this.dtype === 'f32' ? this.k.sumSquares(p, n) : this.k.sumSquares16(p, n, this.dtype);
  }

  fill0(): void {
    this.host.u8(this.live()).fill(0);
  }

  dispose(): void {
    if (this.shard === null) return;
    this.host.free(this.shard);
    this.host.free(this.ws);
    this.shard = null;
  }

  private live(): HostAllocation {
    if (this.shard === null) throw new StateError('the offloaded gradient shard was disposed');
    return this.shard;
  }
}
