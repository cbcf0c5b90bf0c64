// Your own model and your own loss under ZeRO stage 3, on 2 worker-thread ranks, with nothing but the package root
// (in your project: `from 'zerots'`). The model is a residual MLP regressor built from zerots' layers; the loss is
// a mean squared error written here as a new autograd op (forward computes, backward adds into the input's
// gradient). Run after `npm install`:  node dist/examples/custom-model.js [steps]
import {
  Device,
  Linear,
  Module,
  add,
  gelu,
  initialize,
  spawnWorld,
  type RankContext,
  type Tape,
  type Tensor,
} from '../src/index.js';

const DIM = 8;
const HIDDEN = 32;
const MICRO_BATCH = 16;

/** loss = mean((pred - target)^2): a user-defined op on the tape. */
export function meanSquaredError(tape: Tape, pred: Tensor, target: Tensor): Tensor {
  const n = pred.numel;
  const p = pred.f32();
  const t = target.f32();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (p[i] - t[i]) ** 2;
  const out = tape.activation([1], 'mse');
  out.f32()[0] = sum / n;
  return tape.record('meanSquaredError', out, [], (dOut) => {
    const sink = tape.gradSink(pred);
    if (sink === null) return;
    // views are taken again: device memory may have grown (and detached older views) since the forward
    const g = sink.t.f32();
    const p2 = pred.f32();
    const t2 = target.f32();
    const scale = (2 * dOut.f32()[0]) / n;
    for (let i = 0; i < n; i++) {
      const d = scale * (p2[i] - t2[i]);
      g[i] = sink.accumulate ? g[i] + d : d;
    }
  });
}

/** x -> x + fc2(gelu(fc1(x))) -> head: a scalar per row. */
export class ResidualRegressor extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly head: Linear;

  constructor(readonly device: Device) {
    super('');
    const ctx = { device, seed: 7 };
    this.fc1 = this.addChild('fc1', new Linear(ctx, 'fc1', DIM, HIDDEN));
    this.fc2 = this.addChild('fc2', new Linear(ctx, 'fc2', HIDDEN, DIM));
    this.head = this.addChild('head', new Linear(ctx, 'head', DIM, 1));
  }

  /** What the engine calls: inputs [N, DIM], targets [N]. */
  forward(tape: Tape, x: Float32Array, y: Float32Array): { loss: Tensor } {
    return this.region(tape, () => {
      const n = y.length;
      const input = tape.input(x, [n, DIM], { label: 'features' });
      const h = add(tape, input, this.fc2.forward(tape, gelu(tape, this.fc1.forward(tape, input))));
      const pred = this.head.forward(tape, h);
      return { loss: meanSquaredError(tape, pred, tape.input(y, [n, 1], { label: 'targets' })) };
    });
  }
}

/** The data: y = sum_j sin(x_j), x uniform in [-2, 2], from a seeded generator (the same on every rank). */
function globalBatch(step: number, rows: number): { x: Float32Array; y: Float32Array } {
  let s = (step + 1) * 0x9e3779b1;
  const rand = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    return ((s >>> 0) / 2 ** 32) * 4 - 2;
  };
  const x = Float32Array.from({ length: rows * DIM }, rand);
  const y = Float32Array.from({ length: rows }, (_, r) => {
    let v = 0;
    for (let j = 0; j < DIM; j++) v += Math.sin(x[r * DIM + j]);
    return v;
  });
  return { x, y };
}

/** Runs on every rank: each takes its own rows of every global batch. */
export async function rank(ctx: RankContext, steps: number): Promise<{ losses: number[]; paramBytes: number }> {
  const device = new Device({ capacityBytes: 64 << 20, name: `rank${ctx.rank}` });
  const group = await ctx.initProcessGroup(device.memory);
  const model = new ResidualRegressor(device);
  const engine = initialize({
    model,
    group,
    config: {
      train_micro_batch_size_per_gpu: MICRO_BATCH,
      optimizer: { type: 'AdamW', params: { lr: 1e-2 } },
      zero_optimization: { stage: 3, param_persistence_threshold: 0 }, // shard every parameter, however small
    },
  });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { x, y } = globalBatch(step, MICRO_BATCH * ctx.worldSize);
    const mine = ctx.rank * MICRO_BATCH;
    const batch = [x.slice(mine * DIM, (mine + MICRO_BATCH) * DIM), y.slice(mine, mine + MICRO_BATCH)] as const;
    losses.push(engine.trainBatch([[batch[0], batch[1]]]).loss);
  }
  const paramBytes = engine.memoryStats().byCategory.param.inUse;
  engine.dispose();
  return { losses, paramBytes };
}

// The world, started from this same module: inside each rank this call resolves at once to [] (the rank is only
// importing the module to find `rank`), so no guard is needed around it.
const results = await spawnWorld<{ losses: number[]; paramBytes: number }>({
  worldSize: 2,
  module: import.meta.url,
  fn: 'rank',
  args: Number(process.argv[2] ?? 60),
});
for (const [r, res] of results.entries()) {
  const l = res.losses;
  console.log(`rank ${r}: loss ${l[0].toFixed(3)} -> ${l[l.length - 1].toFixed(3)}, param bytes ${res.paramBytes}`);
}
