// How many activation bytes the GPT's forward and backward hold on the tape, from the model's structure alone.
// [Note: activation accounting] Forward keeps every op output (and LayerNorm's mean/rstd, attention's softmax
// probabilities) until backward has passed the op; see [Note: activation lifetime] in src/autograd/tape.ts.
// Backward frees each op's output, saved tensors and output gradient right after its backward, while allocating
// its inputs' gradients on first use. This file replays that rule over the GPT's op graph (written out here, not
// read from a tape) so tests can hold the measured per-category peak to it. Bytes are requested bytes (the
// allocator's accounting unit), fp32 activations, i32 token inputs.
import type { GPTConfig } from './gpt.js';

interface Op {
  out: number;
  saved: number;
  /** Ids of earlier ops whose outputs get gradients from this op, in the order the op asks for them. */
  inputs: number[];
}

export interface ActivationBytes {
  /** Held at the end of forward (inputs, every op output and saved tensor). */
  forward: number;
  /** Largest amount held at any time during forward + backward. */
  peak: number;
}

export function gptActivationBytes(
  cfg: Pick<GPTConfig, 'vocabSize' | 'nLayer' | 'nHead' | 'nEmbd'>,
  B: number,
  T: number,
  withLoss = true,
): ActivationBytes {
  const f = 4;
  const N = B * T;
  const C = cfg.nEmbd;
  const ops: Op[] = [];
  const op = (out: number, inputs: number[], saved = 0): number =>
    ops.push({ out: out * f, saved: saved * f, inputs }) - 1;
  const inputs = (withLoss ? 3 : 2) * N * 4; // tokens, positions (, targets): i32, no gradient
  const tok = op(N * C, []);
  const pos = op(N * C, []);
  let x = op(N * C, [tok, pos]);
  for (let l = 0; l < cfg.nLayer; l++) {
    const ln1 = op(N * C, [x], 2 * N);
    const qkv = op(3 * N * C, [ln1]);
    const att = op(N * C, [qkv], B * cfg.nHead * T * T);
    const proj = op(N * C, [att]);
    const x2 = op(N * C, [x, proj]);
    const ln2 = op(N * C, [x2], 2 * N);
    const fc = op(4 * N * C, [ln2]);
    const ge = op(4 * N * C, [fc]);
    const proj2 = op(N * C, [ge]);
    x = op(N * C, [x2, proj2]);
  }
  const lnf = op(N * C, [x], 2 * N);
  const logits = op(N * cfg.vocabSize, [lnf]);
  let held = inputs + ops.reduce((s, o) => s + o.out + o.saved, 0);
  if (!withLoss) return { forward: held, peak: held };
  const loss = op(1, [logits]);
  held += ops[loss].out;
  const forward = held;
  // Backward: seed gradient of the loss, then each op in reverse.
  const hasGrad = new Set<number>([loss]);
  held += 4;
  let peak = held;
  for (let i = ops.length - 1; i >= 0; i--) {
    const o = ops[i];
    if (hasGrad.has(i)) {
      for (const j of o.inputs) {
        if (!hasGrad.has(j)) {
          hasGrad.add(j);
          held += ops[j].out;
        }
      }
      peak = Math.max(peak, held);
      held -= o.out; // its gradient
    }
    held -= o.out + o.saved;
  }
  return { forward, peak };
}
