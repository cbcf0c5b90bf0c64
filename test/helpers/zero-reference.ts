// The single-process reference the lockstep tests compare against: the same GPT, the whole global batch in one
// forward, default fp32 gradients, the global norm and clipping from the gradients, and src/optim's AdamW over each
// parameter. Nothing from src/zero.
import { Device } from '../../src/tensor/device.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Tape } from '../../src/autograd/tape.js';
import { GPT } from '../../src/nn/gpt.js';
import { AdamW, clipCoefficient } from '../../src/optim/index.js';
import { GPT_TINY, LR, MICRO, microBatch, noDecay, type LockstepCase } from './lockstep-cases.js';

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
  const opt = new AdamW({ lr: LR, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
  const m = params.map((p) => Tensor.zeros(device, p.shape, { category: 'optimizer' }));
  const v = params.map((p) => Tensor.zeros(device, p.shape, { category: 'optimizer' }));
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
    opt.step(
      params.map((p, i) => ({
        name: p.name,
        memory: device,
        n: p.numel,
        param: p.data!.ptr,
        grad: p.grad!.ptr,
        state: { m: m[i].ptr, v: v[i].ptr },
        ...(noDecay(p.name, p.shape) ? { weightDecay: 0 } : {}),
      })),
      { gradScale: clipCoefficient(norm, c.clip) },
    );
  }
  const byName = (ts: Tensor[]) => Object.fromEntries(params.map((p, i) => [p.name, ts[i].f32().slice()]));
  return { losses, norms, params: byName(params.map((p) => p.data!)), m: byName(m), v: byName(v) };
}
