// The parameterised leaf layers: Linear (GPT-2 Conv1D layout), Embedding, LayerNorm.
import type { Device } from '../tensor/device.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tape } from '../autograd/tape.js';
import { linear, embedding, layerNorm } from '../autograd/ops/index.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';
import type { InitSpec } from './init.js';

/** What every layer constructor needs: where parameters live and the model's init seed. */
export interface LayerContext {
  readonly device: Device;
  readonly seed: number;
}

/** y = x W + b, W [in, out] (GPT-2's Conv1D), b [out]. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    ctx: LayerContext,
    prefix: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; weightInit?: InitSpec } = {},
  ) {
    super(prefix);
    this.weight = this.addParameter(
      new Parameter(
        this.sub('weight'),
        [inFeatures, outFeatures],
        opts.weightInit ?? { kind: 'normal', std: 0.02 },
        ctx.seed,
        ctx.device,
      ),
    );
    this.bias =
      opts.bias === false
        ? null
        : this.addParameter(new Parameter(this.sub('bias'), [outFeatures], { kind: 'zeros' }, ctx.seed, ctx.device));
  }

  forward(tape: Tape, x: Tensor): Tensor {
    return this.region(tape, () => linear(tape, x, this.weight, this.bias));
  }
}

/** out = table[idx], table [num, dim]. */
export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(
    ctx: LayerContext,
    prefix: string,
    readonly num: number,
    readonly dim: number,
    init: InitSpec = { kind: 'normal', std: 0.02 },
  ) {
    super(prefix);
    this.weight = this.addParameter(new Parameter(this.sub('weight'), [num, dim], init, ctx.seed, ctx.device));
  }

  forward(tape: Tape, idx: Tensor): Tensor {
    return this.region(tape, () => embedding(tape, idx, this.weight));
  }
}

/** LayerNorm over the last dimension, eps 1e-5 (GPT-2's), weight 1 and bias 0 at init. */
export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    ctx: LayerContext,
    prefix: string,
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super(prefix);
    this.weight = this.addParameter(new Parameter(this.sub('weight'), [dim], { kind: 'ones' }, ctx.seed, ctx.device));
    this.bias = this.addParameter(new Parameter(this.sub('bias'), [dim], { kind: 'zeros' }, ctx.seed, ctx.device));
  }

  forward(tape: Tape, x: Tensor): Tensor {
    return this.region(tape, () => layerNorm(tape, x, this.weight, this.bias, this.eps));
  }
}
