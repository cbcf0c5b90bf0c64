// An MLP classifier: fc.0 -> GELU -> fc.1 -> GELU -> ... -> fc.{n} (logits), trained with cross-entropy.
// Weights in the Conv1D layout [in, out]; init uniform(+-1/sqrt(in)) for weights (PyTorch's Linear bound), 0 bias.
import type { Device } from '../tensor/device.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tape } from '../autograd/tape.js';
import { crossEntropy, gelu } from '../autograd/ops/index.js';
import { ShapeError } from '../errors.js';
import { Module } from './module.js';
import { Linear } from './layers.js';
import { checkPositiveInt, materializeAll, type ModelOptions } from './model-options.js';

export interface MLPClassifierConfig {
  inDim: number;
  hidden: readonly number[];
  classes: number;
  seed: number;
}

export class MLPClassifier extends Module {
  readonly fc: Linear[] = [];

  constructor(
    readonly device: Device,
    readonly config: MLPClassifierConfig,
    opts: ModelOptions = {},
  ) {
    super('');
    const dims = [config.inDim, ...config.hidden, config.classes];
    dims.forEach((d, i) =>
      checkPositiveInt(
        'MLPClassifier config',
        i === 0 ? 'inDim' : i === dims.length - 1 ? 'classes' : `hidden[${i - 1}]`,
        d,
      ),
    );
    const ctx = { device, seed: config.seed };
    for (let i = 0; i + 1 < dims.length; i++) {
      const bound = 1 / Math.sqrt(dims[i]);
      this.fc.push(
        this.addChild(
          `fc.${i}`,
          new Linear(ctx, `fc.${i}`, dims[i], dims[i + 1], { weightInit: { kind: 'uniform', bound } }),
        ),
      );
    }
    materializeAll(this, opts);
  }

  /** x [N, inDim] (fp32), labels [N] (class ids, < 0 ignored). */
  forward(tape: Tape, x: ArrayLike<number>, labels?: ArrayLike<number>): { logits: Tensor; loss: Tensor | null } {
    const N = x.length / this.config.inDim;
    if (!Number.isInteger(N))
      throw new ShapeError(
        `MLPClassifier.forward: ${x.length} inputs are not a multiple of inDim ${this.config.inDim}`,
      );
    if (labels !== undefined && labels.length !== N)
      throw new ShapeError(`MLPClassifier.forward: ${labels.length} labels for ${N} rows`);
    return this.region(tape, () => {
      let h = tape.input(x, [N, this.config.inDim], { label: 'features' });
      this.fc.forEach((layer, i) => {
        h = layer.forward(tape, h);
        if (i < this.fc.length - 1) h = gelu(tape, h);
      });
      const loss =
        labels === undefined ? null : crossEntropy(tape, h, tape.input(labels, [N], { dtype: 'i32', label: 'labels' }));
      return { logits: h, loss };
    });
  }
}
