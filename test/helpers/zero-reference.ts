// The single-process reference the lockstep tests compare against: the same GPT, the whole global batch in one
// forward, default fp32 gradients, the global norm and clipping from the gradients, and src/optim's AdamW over each
// parameter. Nothing from src/zero.
import { Device } from '../../src/tensor/device.js';
import { Tape } from '../../src/autograd/tape.js';
import { GPT } from '../../src/nn/gpt.js';
import { clipCoefficient } from '../../src/optim/index.js';
import { GPT_TINY, LR, MICRO, microBatch, type LockstepCase } from './lockstep-cases.js';
import { paramAdamW } from './param-adamw.js';

export interface ReferenceResult {
  losses: number[];
  norms: number[];
  params: Record<string, Float32Array>;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

export function reference(c: LockstepCase): ReferenceResult {
  const device = new Device({ capacityBytes: 32 << 20, kernels: c.kernels, name: 'reference' });
  const model = new GPT(device, GPT_TINY);
  const tape = new Tape(device);
  const params = model.parameters();
  const opt = paramAdamW(params, { lr: LR, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
  const losses: number[] = [];
  const norms: number[] = [];
  const N = c.worldSize;
  for (let step = 0; step < c.steps; step++) {
    for (const p of params) p.zeroGrad();
    // the global batch in the engine's order: micro-step k, rank r
    const inputs: number[][] = [];
    const targets: number[][] = [];
    for (let k = 0; k < c.gas; k++)
      for (let r = 0; r < N; r++) {
        const b = microBatch(step, k, r, N);
        inputs.push(...b.inputs);
        targets.push(...b.targets);
      }
    if (inputs.length !== MICRO * N * c.gas) throw new Error('reference batch size');
    const { loss } = model.forward(tape, inputs, targets);
    losses.push(tape.backward(loss!));
    tape.clear();
    let sq = 0;
    for (const p of params) sq += device.kernels.sumSquares(p.grad!.ptr, p.numel);
    const norm = Math.sqrt(sq);
    norms.push(norm);
    opt.step(clipCoefficient(norm, c.clip));
  }
  const { m, v } = opt.moments();
  return { losses, norms, params: Object.fromEntries(params.map((p) => [p.name, p.data!.f32().slice()])), m, v };
}
