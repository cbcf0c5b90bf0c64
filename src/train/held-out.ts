// Held-out loss of a data-parallel rank: the model's plain forward (no backward) over this rank's share of the
// validation windows in stream order. Under ZeRO stage 3 the modules' hooks still gather and release parameters
// collectively, so every rank must evaluate the same number of batches: the sampler gives each an equal share.
import { type ActivationDType, Tape } from '../autograd/tape.js';
import { DistributedSampler } from '../data/index.js';
import type { GPT } from '../nn/gpt.js';
import type { Device } from '../tensor/device.js';

export interface HeldOutShare {
  rank: number;
  worldSize: number;
  /** context length (tokens per sequence) */
  blockSize: number;
  /** sequences per batch on this rank */
  microBatch: number;
  /** batches to evaluate (at least 1; capped by the validation set) */
  batches: number;
  /**
   * What the forward saves, as training's tape does (default fp32). The tape records for a backward that never
   * comes, so under bf16 an fp32 tape would hold twice the activations of a training forward: the evaluation, not
   * training, would decide the largest micro-batch that fits.
   */
  activationDType?: ActivationDType;
}

/** Mean loss over this rank's `batches` validation batches. */
export function heldOutLoss(device: Device, model: GPT, val: Uint8Array | Int32Array, share: HeldOutShare): number {
  const T = share.blockSize;
  const sampler = new DistributedSampler(val, {
    blockSize: T,
    microBatchSize: share.microBatch,
    worldSize: share.worldSize,
    rank: share.rank,
    shuffle: false,
  });
  const n = Math.max(1, Math.min(share.batches, sampler.stepsPerEpoch));
  const tape = new Tape(device, { activationDType: share.activationDType ?? 'f32' });
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const b = sampler.batch(0, 0, i);
    const { loss } = model.forward(tape, { B: b.B, T, data: b.inputs }, { B: b.B, T, data: b.targets });
    sum += loss!.f32()[0]!;
    tape.clear();
  }
  return sum / n;
}
