// Rank program for "a step that throws leaves parameters and optimizer state as they were": a GPT whose forward adds
// an input tensor to the token embeddings (zeros, except one NaN on the poisoned rank when `poison` is set), so every
// rank runs the same modules and a clean run is bit-identical to a plain GPT's up to x + 0.
import { Device } from '../../src/tensor/device.js';
import { DeviceOutOfMemoryError } from '../../src/errors.js';
import { GPT, flattenBatch, type TokenBatch } from '../../src/nn/gpt.js';
import type { Tape } from '../../src/autograd/tape.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { add, crossEntropy } from '../../src/autograd/ops/index.js';
import { initialize, type ZeroEngine } from '../../src/zero/engine.js';
import type { ProcessGroup } from '../../src/comm/types.js';
import { segment } from '../../src/zero/plan.js';
import { commOptionsFor } from '../../src/zero/comm-options.js';
import { gptNoDecay } from '../../src/nn/gpt.js';
import { GPT_TINY, dsConfig, microBatch, type LockstepCase } from '../helpers/lockstep-cases.js';
import type { FakeRankContext } from '../helpers/fake-world.js';

class PoisonGPT extends GPT {
  poison = false;
  override forward(tape: Tape, idx: TokenBatch, targets?: TokenBatch): { logits: Tensor; loss: Tensor | null } {
    const x = flattenBatch(idx, 'idx');
    const t = flattenBatch(targets!, 'targets');
    return this.region(tape, () => {
      const pos = Int32Array.from({ length: x.B * x.T }, (_, i) => i % x.T);
      const noise = new Float32Array(x.B * x.T * this.config.nEmbd);
      if (this.poison) noise[5] = NaN;
      const tok = add(
        tape,
        this.wte.forward(tape, tape.input(x.data, [x.B, x.T], { dtype: 'i32' })),
        tape.input(noise, [x.B, x.T, this.config.nEmbd]),
      );
      let h = add(tape, tok, this.wpe.forward(tape, tape.input(pos, [x.B, x.T], { dtype: 'i32' })));
      for (const block of this.h) h = block.forward(tape, h);
      const logits = this.lm_head.forward(tape, this.ln_f.forward(tape, h));
      return { logits, loss: crossEntropy(tape, logits, tape.input(t.data, [t.B, t.T], { dtype: 'i32' })) };
    });
  }
}

export interface NanCase extends LockstepCase {
  /** the rank whose input gets the NaN (or whose step workspace allocation fails) */
  poisonRank: number;
  /** 'nan' (default): a NaN in the input; 'oom': the step's workspace allocation fails on poisonRank (16-bit only) */
  failure?: 'nan' | 'oom';
}

export interface NanResult {
  /** name: message of what the poisoned step threw ('' if it did not throw) */
  thrown: string;
  /** state that differs after the failed step (must be empty) */
  changed: string[];
  /** state that differs between the recovered run and a run that never failed (must be empty) */
  diverged: string[];
  losses: number[];
  /** rank 0: consolidated fp32 parameters after the last step */
  params?: Record<string, number[]>;
}

type Engine = ZeroEngine<PoisonGPT>;

/** Everything a step may change, as bit patterns (Uint32 / Uint16 copies), by name. */
function snapshot(engine: Engine): Map<string, Uint32Array | Uint16Array | string> {
  const out = new Map<string, Uint32Array | Uint16Array | string>();
  const bits = (a: Float32Array | Uint16Array) =>
    a instanceof Float32Array ? new Uint32Array(a.slice().buffer) : a.slice();
  const full = engine.consolidate();
  for (const [n, a] of Object.entries(full.params)) out.set(`master ${n}`, bits(a));
  for (const [k, byName] of Object.entries(full.state))
    for (const [n, a] of Object.entries(byName)) out.set(`${k} ${n}`, bits(a));
  // biome-ignore lint/complexity/useLiteralKeys: reads the engine's private store (a test of its internals)
  const store = engine['store'];
  engine.plan.layout.buckets.forEach((_, b) => {
    const { buf, offset } = store.segmentParam(b);
    const s = segment(engine.plan, b);
    out.set(`own params bucket ${b}`, bits(buf.comm(offset, s.end - s.start) as Float32Array | Uint16Array));
  });
  for (const p of engine.model.parameters())
    if (p.data !== null) out.set(`data ${p.name}`, bits(p.data.dtype === 'f32' ? p.data.f32() : p.data.u16()));
  out.set(
    'optimizer',
    JSON.stringify({ steps: engine.optimizer.stepCount, lr: engine.optimizer.lr, state: engine.optimizer.stateDict() }),
  );
  out.set(
    'engine',
    JSON.stringify({
      globalSteps: engine.globalSteps,
      scheduler: engine.scheduler.stateDict(),
      scaler: engine.scaler?.stateDict() ?? null,
    }),
  );
  return out;
}

function differences(
  a: Map<string, Uint32Array | Uint16Array | string>,
  b: Map<string, Uint32Array | Uint16Array | string>,
): string[] {
  const out: string[] = [];
  for (const [k, x] of a) {
    const y = b.get(k);
    const same =
      typeof x === 'string'
        ? x === y
        : y !== undefined && typeof y !== 'string' && x.length === y.length && x.every((v, i) => v === y[i]);
    if (!same) out.push(k);
  }
  return out;
}

/** Makes every 'workspace' allocation of this device throw, as a full device would (until the own property goes). */
function failWorkspace(device: Device): void {
  const alloc = device.alloc.bind(device);
  device.alloc = (bytes, category, label) => {
    if (category === 'workspace')
      throw new DeviceOutOfMemoryError(
        `injected: ${bytes} bytes of workspace (${label})`,
        bytes,
        device.capacityBytes,
        {},
      );
    return alloc(bytes, category, label);
  };
}

function batch(step: number, rank: number, N: number): [number[][], number[][]] {
  const b = microBatch(step, 0, rank, N);
  return [b.inputs, b.targets];
}

function run(
  device: Device,
  group: ProcessGroup,
  ctx: FakeRankContext,
  c: NanCase,
  fail: boolean,
): { res: NanResult; final: Map<string, Uint32Array | Uint16Array | string> } {
  const model = new PoisonGPT(device, GPT_TINY, { materialize: false });
  const engine = initialize({ model, config: dsConfig(c), group, noDecay: gptNoDecay });
  const res: NanResult = { thrown: '', changed: [], diverged: [], losses: [] };
  try {
    res.losses.push(engine.trainBatch([batch(0, ctx.rank, ctx.worldSize)]).loss);
    if (fail) {
      const before = snapshot(engine);
      const mine = ctx.rank === c.poisonRank;
      model.poison = mine && c.failure !== 'oom';
      engine.forward(...batch(1, ctx.rank, ctx.worldSize));
      engine.backward();
      if (mine && c.failure === 'oom') failWorkspace(device);
      try {
        engine.step();
      } catch (e) {
        res.thrown = `${(e as Error).name}: ${(e as Error).message}`;
      } finally {
        Reflect.deleteProperty(device, 'alloc'); // back to the prototype's
      }
      model.poison = false;
      res.changed = differences(before, snapshot(engine));
    }
    res.losses.push(engine.trainBatch([batch(1, ctx.rank, ctx.worldSize)]).loss);
    const final = snapshot(engine);
    const full = engine.consolidate(); // a collective: every rank
    if (ctx.rank === 0) res.params = Object.fromEntries(Object.entries(full.params).map(([k, v]) => [k, [...v]]));
    return { res, final };
  } finally {
    engine.dispose();
  }
}

/** Per case: a clean two-step run, then a run whose second step is poisoned (must throw, change nothing) and redone. */
export async function nanStep(ctx: FakeRankContext, cases: NanCase[]): Promise<NanResult[]> {
  const device = new Device({ capacityBytes: 32 << 20, kernels: cases[0].kernels, name: `rank${ctx.rank}` });
  const comm = commOptionsFor(device, dsConfig(cases[0]), { worldSize: ctx.worldSize, progressThread: false });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const out: NanResult[] = [];
  for (const c of cases) {
    const before = device.memoryStats().inUseBytes;
    const clean = run(device, group, ctx, c, false);
    const failed = run(device, group, ctx, c, true);
    failed.res.diverged = differences(clean.final, failed.final);
    out.push(failed.res);
    const after = device.memoryStats().inUseBytes;
    if (after !== before) throw new Error(`case stage ${c.stage} ${c.precision}: ${after - before} bytes not freed`);
  }
  return out;
}
