// The tape: a synchronous reverse-mode autograd over one device.
//
// Call convention (see README.md): ops are free functions `op(tape, ...inputs) -> Tensor` (src/autograd/ops).
// Each op computes its output now, as an 'activation' tensor owned by the tape, and records one node: the output,
// the extra tensors its backward needs (`saved`, also owned by the tape) and a backward closure. `backward(loss)`
// walks the nodes in reverse; each closure reads the gradient of its output and adds into its inputs' gradients
// (`gradSink`) and its parameters' gradients (ParamRef.accumulateGrad or gradTarget).
//
// [Note: parameters are handles] a node records ParamRefs, never their data. Backward obtains the data again with
// `value()`, so a ZeRO stage-3 engine may release a parameter after forward and fetch it in backward.
//
// [Note: activation lifetime] a node's output, its saved tensors and its output's gradient are freed as soon as
// the node's backward has run: every consumer of the output was recorded later and has already run. What is left
// (inputs, leaf gradients, retained tensors, nodes the loss does not reach) is freed by clear(). After clear() the
// device's memory is back exactly where it was before the forward. Peak = everything forward saved plus the
// gradient frontier of backward; src/nn/activation-bytes.ts computes it in closed form for the GPT.
import { Tensor, type DType } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import { ShapeError, StateError } from '../errors.js';

/** What a module region needs from the tape: callbacks at its backward boundaries. */
export interface RegionHooks {
  /** Called before the first backward op of the region (backward reaches the region's end). */
  preBackward(): void;
  /** Called after the last backward op of the region (backward reaches the region's start). */
  postBackward(): void;
}

interface OpNode {
  readonly kind: 'op';
  readonly op: string;
  readonly output: Tensor;
  readonly saved: readonly Tensor[];
  /** Receives the output's gradient (fp32, same shape as the output). */
  readonly backward: (dOut: Tensor) => void;
}
interface RegionNode {
  readonly kind: 'enter' | 'exit';
  readonly hooks: RegionHooks;
}
type Node = OpNode | RegionNode;

export type TapeState = 'recording' | 'backward-done';

export class Tape {
  private nodes: Node[] = [];
  /** Gradients of op outputs and of leaves, by tensor. */
  private grads = new Map<Tensor, Tensor>();
  /** Tensors that get gradients: op outputs and inputs created with requiresGrad. */
  private requiresGrad = new Set<Tensor>();
  private leaves = new Set<Tensor>();
  /** Tape-owned tensors that are not op outputs or saved: inputs. */
  private inputs: Tensor[] = [];
  private retained = new Set<Tensor>();
  private openRegions = 0;
  private _state: TapeState = 'recording';

  constructor(readonly device: Device) {}

  get state(): TapeState {
    return this._state;
  }

  /** Number of op nodes recorded (for tests and profiles). */
  get opCount(): number {
    return this.nodes.filter((n) => n.kind === 'op').length;
  }

  /** An input copied to the device, owned by the tape. A requiresGrad input is a leaf: see grad(). */
  input(
    data: ArrayLike<number>,
    shape: readonly number[],
    opts: { dtype?: DType; requiresGrad?: boolean; label?: string } = {},
  ): Tensor {
    this.checkRecording('input');
    const t = Tensor.fromArray(this.device, data, shape, {
      dtype: opts.dtype ?? 'f32',
      category: 'activation',
      label: opts.label ?? 'input',
    });
    this.inputs.push(t);
    if (opts.requiresGrad) {
      if (t.dtype !== 'f32')
        throw new ShapeError(`tape input "${opts.label ?? 'input'}": only f32 inputs can require grad, got ${t.dtype}`);
      this.requiresGrad.add(t);
      this.leaves.add(t);
    }
    return t;
  }

  /** A new fp32 activation tensor for an op's output or saved state (uninitialised). */
  activation(shape: readonly number[], label: string, dtype: DType = 'f32'): Tensor {
    return Tensor.empty(this.device, shape, { dtype, category: 'activation', label });
  }

  /** Records one op (after it computed `output`). The tape now owns `output` and `saved`. */
  record(op: string, output: Tensor, saved: readonly Tensor[], backward: (dOut: Tensor) => void): Tensor {
    this.checkRecording(op);
    this.nodes.push({ kind: 'op', op, output, saved, backward });
    this.requiresGrad.add(output);
    return output;
  }

  /** Marks the start of a module's forward region; its hooks fire when backward crosses the region. */
  enterRegion(hooks: RegionHooks): void {
    this.checkRecording('enterRegion');
    this.nodes.push({ kind: 'enter', hooks });
    this.openRegions++;
  }

  exitRegion(hooks: RegionHooks): void {
    this.checkRecording('exitRegion');
    if (this.openRegions === 0) throw new StateError('tape: exitRegion without a matching enterRegion');
    this.nodes.push({ kind: 'exit', hooks });
    this.openRegions--;
  }

  /** Keeps `t` (an op output) alive through backward, until clear(). */
  retain(t: Tensor): Tensor {
    if (!this.requiresGrad.has(t) || this.leaves.has(t))
      throw new StateError('tape.retain: only op outputs of this tape can be retained');
    this.retained.add(t);
    return t;
  }

  /**
   * Where a backward closure adds the gradient for input `x`: returns null when `x` needs no gradient, else the
   * gradient tensor and whether it already holds a value (accumulate) or is fresh (overwrite).
   */
  gradSink(x: Tensor): { t: Tensor; accumulate: boolean } | null {
    if (!this.requiresGrad.has(x)) return null;
    const g = this.grads.get(x);
    if (g !== undefined) return { t: g, accumulate: true };
    const fresh = Tensor.empty(this.device, x.shape, { dtype: 'f32', category: 'activation', label: 'grad' });
    this.grads.set(x, fresh);
    return { t: fresh, accumulate: false };
  }

  /** The gradient of a leaf input (valid until clear()), or null when backward did not reach it. */
  grad(x: Tensor): Tensor | null {
    if (!this.leaves.has(x))
      throw new StateError('tape.grad: only inputs created with requiresGrad keep a gradient after backward');
    return this.grads.get(x) ?? null;
  }

  /**
   * Backpropagates from the scalar `loss` (an op output of this tape) with d(loss) = scale; returns the loss
   * value read before its tensor is freed.
   */
  backward(loss: Tensor, scale = 1): number {
    this.checkRecording('backward');
    if (this.openRegions !== 0) throw new StateError(`tape.backward: ${this.openRegions} module region(s) still open`);
    if (loss.numel !== 1 || !this.requiresGrad.has(loss)) {
      throw new ShapeError(
        `tape.backward: loss must be a 1-element op output of this tape, got shape [${loss.shape.join(', ')}]`,
      );
    }
    const value = loss.f32()[0];
    const seed = Tensor.fromArray(this.device, [scale], loss.shape, {
      dtype: 'f32',
      category: 'activation',
      label: 'grad',
    });
    this.grads.set(loss, seed);
    this._state = 'backward-done';
    // Pop as we go, so that clear() after a throwing hook or op frees exactly what is left.
    for (let node = this.nodes.pop(); node !== undefined; node = this.nodes.pop()) {
      if (node.kind === 'op') this.runNode(node);
      else if (node.kind === 'exit') node.hooks.preBackward();
      else node.hooks.postBackward();
    }
    return value;
  }

  /** Frees every tensor the tape still owns and makes it ready to record again. */
  clear(): void {
    for (const node of this.nodes) if (node.kind === 'op') this.freeNode(node);
    for (const g of this.grads.values()) g.dispose();
    for (const t of this.inputs) t.dispose();
    for (const t of this.retained) t.dispose();
    this.nodes = [];
    this.grads.clear();
    this.requiresGrad.clear();
    this.leaves.clear();
    this.inputs = [];
    this.retained.clear();
    this.openRegions = 0;
    this._state = 'recording';
  }

  private runNode(node: OpNode): void {
    const dOut = this.grads.get(node.output);
    try {
      if (dOut !== undefined) node.backward(dOut);
    } finally {
      this.freeNode(node);
    }
  }

  private freeNode(node: OpNode): void {
    const g = this.grads.get(node.output);
    if (g !== undefined && !this.leaves.has(node.output)) {
      g.dispose();
      this.grads.delete(node.output);
    }
    if (!this.retained.has(node.output)) node.output.dispose();
    for (const t of node.saved) t.dispose();
  }

  private checkRecording(what: string): void {
    if (this._state !== 'recording')
      throw new StateError(`tape.${what}: backward already ran on this tape; call clear() before recording again`);
  }
}
