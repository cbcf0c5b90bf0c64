// How many activation bytes the GPT's forward and backward hold on the tape, from the model's structure alone.
// [Note: activation accounting] this file replays the tape's rules over the GPT's op graph (written out here, not
// read from a tape), so tests can hold the measured per-category peak to it byte for byte:
// - forward: each op allocates its output (fp32) and saved tensors (LayerNorm's mean/rstd, attention's log-sum-exp);
//   when forward is done with an output (its module region exits without returning it, or GPT.forward hands it
//   over) it is freed if no backward reads it, and under 16-bit activations replaced by a 16-bit copy if one does
//   ([Note: what backward reads] in src/autograd/tape.ts);
// - backward: each op allocates its inputs' gradients on first use, then frees its output's gradient, output,
//   16-bit copy and saved tensors;
// - a checkpointed block ([Note: activation checkpointing] in src/autograd/checkpoint.ts) keeps only its fp32
//   input (on the host with cpuCheckpointing) and runs its body on an inner tape twice: in forward (freed at once)
//   and in backward (recompute, then the inner backward).
// Bytes are requested bytes (the allocator's accounting unit); token inputs are i32. Upcasts of 16-bit copies in
// backward are 'workspace', not 'activation', and so are not counted here (see src/estimate/peak.ts).
import type { GPTConfig } from './gpt.js';
import type { ActivationDType } from '../autograd/tape.js';

export interface ActivationBytes {
  /** Held at the end of forward (inputs, every op output and saved tensor still kept). */
  forward: number;
  /** Largest amount held at any time during forward + backward. */
  peak: number;
  /** Bytes of checkpointed inputs kept in host memory (cpuCheckpointing), at the end of forward. */
  host: number;
  /** Largest activations + op workspaces at any time (see ActivationOptions.workspace). */
  peakWithWorkspace: number;
}

/**
 * The op workspaces to count with the activations (category 'workspace', transient): fp32 copies of 16-bit
 * parameters, a parameter's gradient contribution when an engine's hook consumes gradients, the engine's fp32
 * workspace for adding it into 16-bit gradients, the attention's block workspace. Upcasts of 16-bit activations
 * are counted whenever activations are 16-bit.
 */
export interface WorkspaceOptions {
  paramCopies: boolean;
  gradContribution: boolean;
  gradAdd: boolean;
}

export interface ActivationOptions {
  withLoss?: boolean;
  activationDType?: ActivationDType;
  /** Which blocks are checkpointed (by index); default none. */
  checkpointed?: readonly boolean[];
  cpuCheckpointing?: boolean;
  workspace?: WorkspaceOptions;
}

interface T {
  bytes: number;
  half: number;
  readBy: boolean;
  pinned: boolean;
  done: boolean;
  grad: boolean;
  saved: number;
  inputs: T[];
  checkpoint: boolean;
  /** workspace bytes its backward holds at most besides its reads' upcasts, and the reads */
  bws: number;
  reads: T[];
}

/** Bytes live on the device over every tape (a checkpoint's inner tape included), and the most at any time. */
class Counter {
  live = 0;
  peak = 0;
  /** with transient workspace */
  peakWs = 0;
  add(n: number): void {
    this.live += n;
    if (this.live > this.peak) this.peak = this.live;
    if (this.live > this.peakWs) this.peakWs = this.live;
  }
  /** `ws` workspace bytes are live now, on top of what is live. */
  touch(ws: number): void {
    if (this.live + ws > this.peakWs) this.peakWs = this.live + ws;
  }
}

/** One tape's ops. */
class Sim {
  readonly ops: T[] = [];
  constructor(
    readonly half: boolean,
    readonly c: Counter,
  ) {}
  op(elements: number, inputs: T[], reads: T[] = [], saved = 0, pinned = false, fws = 0, bws = 0): T {
    const t = tensor(elements, inputs, saved);
    t.bws = bws;
    t.reads = reads;
    this.c.add(t.bytes + saved);
    this.c.touch(fws);
    for (const r of reads) {
      if (pinned) r.pinned = true;
      else r.readBy = true;
    }
    this.ops.push(t);
    return t;
  }
  /** Forward is done with these op outputs. */
  done(...ts: T[]): void {
    for (const t of ts) {
      if (t.done || t.pinned) continue;
      if (t.readBy) {
        if (!this.half) continue; // kept in fp32 until its producer's backward
        t.done = true;
        t.half = t.bytes / 2;
        this.c.add(t.half);
      }
      t.done = true;
      this.c.add(-t.bytes);
    }
  }
  /** Backward from `seed`, whose gradient is allocated first; a checkpoint op's backward is `onCheckpoint`. */
  backward(seed: T, onCheckpoint: (t: T) => void): void {
    seed.grad = true;
    this.c.add(seed.bytes);
    for (let i = this.ops.length - 1; i >= 0; i--) {
      const o = this.ops[i];
      if (o.grad) {
        if (o.checkpoint) onCheckpoint(o);
        else {
          const ups = o.reads.reduce((s, r) => s + (r.half > 0 ? 2 * r.half : 0), 0);
          this.c.touch(ups);
          for (const j of o.inputs) {
            if (!j.grad) this.c.add(j.bytes);
            j.grad = true;
          }
          this.c.touch(ups + o.bws);
        }
        this.c.add(-o.bytes); // its gradient
      }
      this.c.add(-((o.done ? 0 : o.bytes) + o.half + o.saved));
    }
  }
}

function tensor(elements: number, inputs: T[], saved = 0): T {
  return {
    bytes: 4 * elements,
    half: 0,
    readBy: false,
    pinned: false,
    done: false,
    grad: false,
    saved,
    inputs,
    checkpoint: false,
    bws: 0,
    reads: [],
  };
}

export function gptActivationBytes(
  cfg: Pick<GPTConfig, 'vocabSize' | 'nLayer' | 'nHead' | 'nEmbd'>,
  B: number,
  T: number,
  opts: ActivationOptions | boolean = {},
): ActivationBytes {
  const o: ActivationOptions = typeof opts === 'boolean' ? { withLoss: opts } : opts;
  const withLoss = o.withLoss ?? true;
  const half = (o.activationDType ?? 'f32') !== 'f32';
  const N = B * T;
  const C = cfg.nEmbd;
  const ckpt = o.checkpointed ?? [];
  const cpu = o.cpuCheckpointing ?? false;
  const c = new Counter();
  const sim = new Sim(half, c);
  /** The block's ops on `s`, with its children's region exits; returns the output and what the block region keeps. */
  const ws = o.workspace ?? { paramCopies: false, gradContribution: false, gradAdd: false };
  /** forward and backward workspace of a linear layer [in, out] with bias */
  const lin = (inF: number, outF: number): [number, number] => {
    const w = inF * outF;
    const copy = ws.paramCopies ? 4 * w : 0;
    const grad = (ws.gradContribution ? 4 * w : 0) + (ws.gradAdd ? 4 * w : 0);
    return [copy, Math.max(copy, grad)];
  };
  const lnWs = (): [number, number] => [ws.paramCopies ? 8 * C : 0, (ws.paramCopies ? 4 * C : 0) + 8 * C + 8 * C];
  const flash = 4 * Math.ceil((2 * Math.min(64, T) * T * 4) / 64) * 16 + 64;
  const body = (s: Sim, x: T): { y: T; inner: T[] } => {
    const ln1 = s.op(N * C, [x], [x], 8 * N, false, ...lnWs());
    const qkv = s.op(3 * N * C, [ln1], [ln1], 0, false, ...lin(C, 3 * C));
    const att = s.op(N * C, [qkv], [qkv], 4 * B * cfg.nHead * T, false, flash, flash);
    const proj = s.op(N * C, [att], [att], 0, false, ...lin(C, C));
    s.done(qkv, att); // attn region exit
    const x2 = s.op(N * C, [x, proj]);
    const ln2 = s.op(N * C, [x2], [x2], 8 * N, false, ...lnWs());
    const fc = s.op(4 * N * C, [ln2], [ln2], 0, false, ...lin(C, 4 * C));
    const ge = s.op(4 * N * C, [fc], [fc]);
    const p2 = s.op(N * C, [ge], [ge], 0, false, ...lin(4 * C, C));
    s.done(fc, ge); // mlp region exit
    const y = s.op(N * C, [x2, p2]);
    return { y, inner: [ln1, proj, x2, ln2, p2] };
  };
  /** Frees what an inner tape still holds (its clear()). */
  const clearInner = (inner: Sim): void => {
    for (const t of inner.ops) c.add(-((t.done ? 0 : t.bytes) + t.half + t.saved + (t.grad ? t.bytes : 0)));
  };
  const xBytes = 4 * N * C;
  let host = 0;
  // i32 inputs (no gradient) are allocated where GPT.forward creates them: tokens, positions, later targets
  c.add(4 * N);
  const tok = sim.op(N * C, []);
  c.add(4 * N);
  const pos = sim.op(N * C, []);
  let x = sim.op(N * C, [tok, pos]);
  sim.done(tok, pos);
  for (let l = 0; l < cfg.nLayer; l++) {
    let y: T;
    if (ckpt[l] === true) {
      // forward on an inner tape; its output copied out while the inner tape still holds everything
      const inner = new Sim(half, c);
      body(inner, tensor(N * C, []));
      y = sim.op(N * C, [x], cpu ? [] : [x], 0, true);
      y.checkpoint = true;
      clearInner(inner);
      if (cpu) host += xBytes;
    } else {
      const r = body(sim, x);
      sim.done(...r.inner);
      y = r.y;
    }
    sim.done(x);
    x = y;
  }
  const lnf = sim.op(N * C, [x], [x], 8 * N, false, ...lnWs());
  const logits = sim.op(N * cfg.vocabSize, [lnf], [lnf], 0, false, ...lin(C, cfg.vocabSize));
  if (!withLoss) {
    sim.done(x, lnf);
    return { forward: c.live, peak: c.peak, host, peakWithWorkspace: c.peakWs };
  }
  c.add(4 * N);
  const loss = sim.op(1, [logits], [logits]);
  sim.done(x, lnf);
  const forward = c.live;
  sim.backward(loss, (ck) => {
    // [x back from the host], recompute on an inner tape, demote it, its backward, then the input's gradient
    if (cpu) c.add(xBytes);
    const inner = new Sim(half, c);
    const xl = tensor(N * C, []); // borrowed: not owned by the inner tape; its gradient and 16-bit copy are
    const r = body(inner, xl);
    inner.done(...r.inner);
    const xlHalf = half && xl.readBy ? xBytes / 2 : 0;
    c.add(xlHalf);
    inner.backward(r.y, () => {});
    const input = ck.inputs[0];
    if (!input.grad) c.add(input.bytes);
    input.grad = true;
    c.add(-(xl.grad ? xBytes : 0) - xlHalf);
    if (cpu) c.add(-xBytes);
  });
  return { forward, peak: c.peak, host, peakWithWorkspace: c.peakWs };
}
