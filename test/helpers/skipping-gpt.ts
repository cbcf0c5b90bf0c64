// A GPT whose forward leaves out one transformer block (`skip`), for tests of ranks that diverge in control flow.
import { GPT, flattenBatch, type TokenBatch } from '../../src/nn/gpt.js';
import type { Tape } from '../../src/autograd/tape.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { add, crossEntropy } from '../../src/autograd/ops/index.js';

export class SkippingGPT extends GPT {
  /** the block this rank leaves out (-1: none) */
  skip = -1;
  override forward(tape: Tape, idx: TokenBatch, targets?: TokenBatch): { logits: Tensor; loss: Tensor | null } {
    const x = flattenBatch(idx, 'idx');
    const t = flattenBatch(targets!, 'targets');
    return this.region(tape, () => {
      const pos = Int32Array.from({ length: x.B * x.T }, (_, i) => i % x.T);
      let h = add(
        tape,
        this.wte.forward(tape, tape.input(x.data, [x.B, x.T], { dtype: 'i32' })),
        this.wpe.forward(tape, tape.input(pos, [x.B, x.T], { dtype: 'i32' })),
      );
      this.h.forEach((block, i) => {
        if (i !== this.skip) h = block.forward(tape, h);
      });
      const logits = this.lm_head.forward(tape, this.ln_f.forward(tape, h));
      return { logits, loss: crossEntropy(tape, logits, tape.input(t.data, [t.B, t.T], { dtype: 'i32' })) };
    });
  }
}
