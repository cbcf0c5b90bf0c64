// GPT-2's transformer pieces: causal self-attention, the MLP, and the pre-LN block.
import type { Tensor } from '../tensor/tensor.js';
import type { Tape } from '../autograd/tape.js';
import { add, causalAttention, gelu } from '../autograd/ops/index.js';
import { checkpoint } from '../autograd/checkpoint.js';
import { ConfigError } from '../errors.js';
import { Module } from './module.js';
import { LayerNorm, Linear, type LayerContext } from './layers.js';

/** GPT-2 scales the init of the projections into the residual stream by 1/sqrt(2 * nLayer). */
function residualInit(nLayer: number): { kind: 'normal'; std: number } {
  return { kind: 'normal', std: 0.02 / Math.sqrt(2 * nLayer) };
}

/** qkv = x c_attn; y = softmax(q k^T / sqrt(hs), causal) v per head; out = y c_proj. */
export class CausalSelfAttention extends Module {
  readonly c_attn: Linear;
  readonly c_proj: Linear;

  constructor(
    ctx: LayerContext,
    prefix: string,
    readonly nEmbd: number,
    readonly nHead: number,
    nLayer: number,
  ) {
    super(prefix);
    if (nEmbd % nHead !== 0) throw new ConfigError(`${prefix}: nHead = ${nHead} must divide nEmbd = ${nEmbd}`, 'nHead');
    this.c_attn = this.addChild('c_attn', new Linear(ctx, this.sub('c_attn'), nEmbd, 3 * nEmbd));
    this.c_proj = this.addChild(
      'c_proj',
      new Linear(ctx, this.sub('c_proj'), nEmbd, nEmbd, { weightInit: residualInit(nLayer) }),
    );
  }

  forward(tape: Tape, x: Tensor): Tensor {
    return this.region(tape, () =>
      this.c_proj.forward(tape, causalAttention(tape, this.c_attn.forward(tape, x), this.nHead)),
    );
  }
}

/** c_proj(gelu_tanh(c_fc(x))), hidden width 4 * nEmbd. */
export class MLP extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;

  constructor(ctx: LayerContext, prefix: string, nEmbd: number, nLayer: number) {
    super(prefix);
    this.c_fc = this.addChild('c_fc', new Linear(ctx, this.sub('c_fc'), nEmbd, 4 * nEmbd));
    this.c_proj = this.addChild(
      'c_proj',
      new Linear(ctx, this.sub('c_proj'), 4 * nEmbd, nEmbd, { weightInit: residualInit(nLayer) }),
    );
  }

  forward(tape: Tape, x: Tensor): Tensor {
    return this.region(tape, () => this.c_proj.forward(tape, gelu(tape, this.c_fc.forward(tape, x))));
  }
}

/** x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)). */
export class Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: MLP;

  constructor(ctx: LayerContext, prefix: string, nEmbd: number, nHead: number, nLayer: number) {
    super(prefix);
    this.ln_1 = this.addChild('ln_1', new LayerNorm(ctx, this.sub('ln_1'), nEmbd));
    this.attn = this.addChild('attn', new CausalSelfAttention(ctx, this.sub('attn'), nEmbd, nHead, nLayer));
    this.ln_2 = this.addChild('ln_2', new LayerNorm(ctx, this.sub('ln_2'), nEmbd));
    this.mlp = this.addChild('mlp', new MLP(ctx, this.sub('mlp'), nEmbd, nLayer));
  }

  /**
   * Activation checkpointing for this block ([Note: activation checkpointing] in src/autograd/checkpoint.ts): the
   * tape keeps only the block's input and recomputes its forward in backward. Same losses and gradients, bit for bit.
   */
  checkpointing = false;

  forward(tape: Tape, x: Tensor): Tensor {
    // The region stays on the outer tape around the checkpoint: stage 3 gathers once for recompute and backward.
    return this.region(tape, () =>
      this.checkpointing ? checkpoint(tape, x, (t, xi) => this.body(t, xi)) : this.body(tape, x),
    );
  }

  private body(tape: Tape, x: Tensor): Tensor {
    const h = add(tape, x, this.attn.forward(tape, this.ln_1.forward(tape, x)));
    return add(tape, h, this.mlp.forward(tape, this.ln_2.forward(tape, h)));
  }
}
