// GPT with GPT-2's architecture and parameter names: learned token and position embeddings, nLayer pre-LN blocks,
// a final LayerNorm, and an LM head tied to wte (logits = x wte^T). Layouts as GPT-2's checkpoints (Conv1D [in,out]).
import type { Device } from '../tensor/device.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tape } from '../autograd/tape.js';
import { add, crossEntropy, linear } from '../autograd/ops/index.js';
import { ShapeError } from '../errors.js';
import { Module } from './module.js';
import { Embedding, LayerNorm, type LayerContext } from './layers.js';
import { Block } from './transformer.js';
import type { Parameter } from './parameter.js';
import { checkPositiveInt, materializeAll, type ModelOptions } from './model-options.js';

export interface GPTConfig {
  vocabSize: number;
  /** Context length (GPT-2's n_ctx / block_size). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** Seed of the deterministic initialisation (see src/nn/init.ts). */
  seed: number;
}

/**
 * GPT-2 practice: no weight decay on 1-D parameters (biases and LayerNorm gains). The `noDecay` rule every GPT
 * training program passes to initialize().
 */
export function gptNoDecay(_name: string, shape: readonly number[]): boolean {
  return shape.length < 2;
}

/** Tokens [B, T]: nested rows, or flat row-major data with its B and T. */
export type TokenBatch =
  | readonly (readonly number[])[]
  | { readonly B: number; readonly T: number; readonly data: ArrayLike<number> };

export function flattenBatch(b: TokenBatch, what: string): { B: number; T: number; data: Int32Array } {
  if ('data' in b) {
    if (b.data.length !== b.B * b.T)
      throw new ShapeError(`${what}: ${b.data.length} tokens do not make a [${b.B}, ${b.T}] batch`);
    return { B: b.B, T: b.T, data: Int32Array.from(b.data) };
  }
  const B = b.length;
  const T = B > 0 ? b[0].length : 0;
  const data = new Int32Array(B * T);
  b.forEach((row, i) => {
    if (row.length !== T) throw new ShapeError(`${what}: row ${i} has ${row.length} tokens, row 0 has ${T}`);
    data.set(row, i * T);
  });
  return { B, T, data };
}

/** The LM head: logits = x wte^T. Owns no parameter; uses wte (tied), listed in directParameters. */
export class TiedLMHead extends Module {
  constructor(
    prefix: string,
    readonly wte: Parameter,
  ) {
    super(prefix);
  }

  override directParameters(): Parameter[] {
    return [this.wte];
  }

  forward(tape: Tape, x: Tensor): Tensor {
    return this.region(tape, () => linear(tape, x, this.wte, null, { transposeWeight: true }));
  }
}

export class GPT extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: Block[];
  readonly ln_f: LayerNorm;
  readonly lm_head: TiedLMHead;

  constructor(
    readonly device: Device,
    readonly config: GPTConfig,
    opts: ModelOptions = {},
  ) {
    super('');
    for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const)
      checkPositiveInt('GPT config', k, config[k]);
    const ctx: LayerContext = { device, seed: config.seed };
    const { vocabSize: V, blockSize, nLayer, nHead, nEmbd: C } = config;
    this.wte = this.addChild('wte', new Embedding(ctx, 'wte', V, C));
    this.wpe = this.addChild('wpe', new Embedding(ctx, 'wpe', blockSize, C));
    this.h = [];
    for (let i = 0; i < nLayer; i++) this.h.push(this.addChild(`h.${i}`, new Block(ctx, `h.${i}`, C, nHead, nLayer)));
    this.ln_f = this.addChild('ln_f', new LayerNorm(ctx, 'ln_f', C));
    this.lm_head = this.addChild('lm_head', new TiedLMHead('lm_head', this.wte.weight));
    materializeAll(this, opts);
  }

  /** The hidden size (n_embd): what sizes the ZeRO bucket keys a config leaves unset (src/config/model-sized.ts). */
  get hiddenSize(): number {
    return this.config.nEmbd;
  }

  /**
   * Activation checkpointing per block: true/false for all, or the indices of the blocks to checkpoint.
   * Returns the per-block switches now in effect.
   */
  setCheckpointing(which: boolean | readonly number[]): boolean[] {
    if (Array.isArray(which)) {
      for (const i of which)
        if (!(Number.isInteger(i) && i >= 0 && i < this.h.length))
          throw new ShapeError(`GPT.setCheckpointing: block ${i} is outside [0, ${this.h.length})`);
    }
    this.h.forEach((b, i) => {
      b.checkpointing = typeof which === 'boolean' ? which : (which as readonly number[]).includes(i);
    });
    return this.h.map((b) => b.checkpointing);
  }

  /**
   * Forward over tokens idx [B, T] (T <= blockSize); with targets [B, T] (i32, < 0 ignored) also the mean
   * cross-entropy. logits [B, T, vocab] and loss [1] are tape activations: read them before backward frees them.
   */
  forward(tape: Tape, idx: TokenBatch, targets?: TokenBatch): { logits: Tensor; loss: Tensor | null } {
    const x = flattenBatch(idx, 'GPT.forward idx');
    const { B, T } = x;
    if (T > this.config.blockSize)
      throw new ShapeError(`GPT.forward: sequence length ${T} exceeds blockSize ${this.config.blockSize}`);
    const tgt = targets === undefined ? null : flattenBatch(targets, 'GPT.forward targets');
    if (tgt !== null && (tgt.B !== B || tgt.T !== T))
      throw new ShapeError(`GPT.forward: targets [${tgt.B}, ${tgt.T}] do not match idx [${B}, ${T}]`);
    return this.region(tape, () => {
      const pos = new Int32Array(B * T);
      for (let i = 0; i < pos.length; i++) pos[i] = i % T;
      const tok = this.wte.forward(tape, tape.input(x.data, [B, T], { dtype: 'i32', label: 'tokens' }));
      const pe = this.wpe.forward(tape, tape.input(pos, [B, T], { dtype: 'i32', label: 'positions' }));
      let h = add(tape, tok, pe);
      tape.forwardDone(tok, pe);
      for (const block of this.h) {
        const next = block.forward(tape, h);
        tape.forwardDone(h);
        h = next;
      }
      const logits = this.lm_head.forward(tape, this.ln_f.forward(tape, h));
      const loss =
        tgt === null
          ? null
          : crossEntropy(tape, logits, tape.input(tgt.data, [B, T], { dtype: 'i32', label: 'targets' }));
      return { logits, loss };
    });
  }
}
