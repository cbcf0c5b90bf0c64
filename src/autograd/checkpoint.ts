// Activation checkpointing: run a block so that the tape keeps only its input, and recompute its forward in backward.
// [Note: activation checkpointing] checkpoint(tape, x, fn) runs fn on an inner tape, copies its output out and frees
// the inner tape at once; the outer tape records one op that reads x in fp32 (never demoted to 16 bits: the
// recompute must see the very values the first forward saw), or, with the tape's cpuCheckpointing, keeps x in host
// memory instead and frees it on the device. Its backward runs fn again on a fresh inner tape (the same kernels on
// the same inputs and parameters give the same bits), demotes that tape exactly as the outer tape would have
// demoted the block's tensors (the block's own outputs, then its input), backpropagates the output's gradient
// through it, and writes the input's gradient into the outer tape's sink. Losses and gradients are therefore bit
// for bit those of the same run without checkpointing.
//
// Module hooks: the caller keeps its module region on the outer tape around the checkpoint (see src/nn's Block), so
// a ZeRO stage-3 engine gathers the block's parameters once before the recompute (pre-backward) and releases them
// after the inner backward (post-backward). Modules inside the block fire recompute hooks instead of forward hooks
// on the recompute ([Note: recompute hooks] in src/nn/module.ts), so a module's own gather is taken once for its
// recompute and kept through its backward, and gradient readiness still counts one forward per micro-step.
import { Tensor } from '../tensor/tensor.js';
import type { Tape } from './tape.js';
import { Tape as TapeClass } from './tape.js';
import { expectF32 } from './ops/util.js';

/** The body of a checkpointed block: ops on `tape` from its input `x` to one output tensor. */
export type CheckpointFn = (tape: Tape, x: Tensor) => Tensor;

/** Host bytes of checkpointed inputs held now, over every tape of the process (cpuCheckpointing). */
export const checkpointHost = { inUse: 0, peak: 0 };

export function checkpoint(tape: Tape, x: Tensor, fn: CheckpointFn): Tensor {
  expectF32('checkpoint', x);
  const dev = tape.device;
  const inner = (recompute: boolean): Tape => new TapeClass(dev, { ...tape.options, recompute });
  let out: Tensor;
  {
    const t = inner(false);
    try {
      const y = fn(t, t.borrow(x));
      expectF32('checkpoint output', y);
      out = tape.activation(y.shape, 'checkpoint out');
      dev.kernels.copy(out.ptr, y.ptr, y.bytes);
    } finally {
      t.clear();
    }
  }
  let host: Float32Array | null = null;
  if (tape.cpuCheckpointing) {
    host = x.f32().slice();
    checkpointHost.inUse += host.byteLength;
    checkpointHost.peak = Math.max(checkpointHost.peak, checkpointHost.inUse);
  }
  const release = (): void => {
    if (host !== null) checkpointHost.inUse -= host.byteLength;
    host = null;
  };
  return tape.record(
    'checkpoint',
    out,
    [],
    (dOut, reads) => {
      const xd =
        host === null
          ? reads[0]
          : Tensor.fromArray(dev, host, x.shape, { dtype: 'f32', category: 'activation', label: 'checkpoint input' });
      const t = inner(true);
      try {
        const xl = t.borrow(xd);
        const y = fn(t, xl);
        t.forwardDoneExcept([y]);
        t.forwardDone(xl);
        t.backwardFrom(y, dOut);
        const g = t.grad(xl);
        const sink = tape.gradSink(x);
        if (sink !== null && g !== null) {
          if (sink.accumulate) dev.kernels.add(sink.t.ptr, sink.t.ptr, g.ptr, x.numel);
          else dev.kernels.copy(sink.t.ptr, g.ptr, g.bytes);
        } else if (sink !== null && !sink.accumulate) dev.kernels.fill(sink.t.ptr, 0, x.numel);
      } finally {
        t.clear();
        if (host !== null) xd.dispose();
        release();
      }
    },
    host === null ? [x] : [],
    true,
  );
}
