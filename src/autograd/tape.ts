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
//
// [Note: what backward reads] an op names the activations its backward reads (`reads`); the closure gets them as
// fp32 tensors. When forward is done with an op output (its module region exited without returning it, or
// forwardDone(t)), the tape frees it if no backward reads it, and otherwise, under a 16-bit activationDType, keeps
// a 16-bit copy in its place: backward then sees a workspace upcast of that copy for the duration of the closure
// ([Note: 16-bit activations] in README.md). Reads marked fp32 (a checkpoint's input) are never demoted.
import { Tensor, type DType } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import { ShapeError, StateError } from '../errors.js';

/** Storage type of the activations forward keeps for backward. */
export type ActivationDType = 'f32' | 'bf16' | 'f16';

export interface TapeOptions {
  /** 'f32' (default) or a 16-bit type: see [Note: what backward reads]. Compute stays fp32 either way. */
  activationDType?: ActivationDType;
  /** Checkpointed blocks keep their input in host memory (DeepSpeed's cpu_checkpointing), see checkpoint.ts. */
  cpuCheckpointing?: boolean;
  /** This tape recomputes a checkpointed block in backward (modules fire their recompute hooks, see src/nn). */
  recompute?: boolean;
}

/** A backward closure: the output's gradient, and the op's `reads` as fp32 tensors (in the order given). */
export type BackwardFn = (dOut: Tensor, reads: readonly Tensor[]) => void;

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
  readonly reads: readonly Tensor[];
  /** Receives the output's gradient (fp32, same shape as the output). */
  readonly backward: BackwardFn;
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
  /** Op outputs of each open region (index 0: outside every region), not yet handed to demote(). */
  private regionOutputs: Tensor[][] = [[]];
  /** Tensors some backward reads (any storage), and those it reads in fp32 only. */
  private readBy = new Set<Tensor>();
  private pinned = new Set<Tensor>();
  /** 16-bit copies standing in for demoted tensors; tensors whose fp32 data forward no longer holds. */
  private halves = new Map<Tensor, Tensor>();
  private done = new Set<Tensor>();
  /** Leaves over memory the tape does not own (a checkpoint's input seen by its inner tape). */
  private borrowed = new Set<Tensor>();
  /** An op recorded without `reads`: forward-done tensors are kept as they are (see record()). */
  private undeclared = false;
  readonly activationDType: ActivationDType;
  readonly cpuCheckpointing: boolean;
  readonly recompute: boolean;

  constructor(
    readonly device: Device,
    readonly options: TapeOptions = {},
  ) {
    this.activationDType = options.activationDType ?? 'f32';
    this.cpuCheckpointing = options.cpuCheckpointing ?? false;
    this.recompute = options.recompute ?? false;
  }

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

  /**
   * Records one op (after it computed `output`). The tape now owns `output` and `saved`. `reads` are the
   * activations (op outputs or inputs of this tape) its backward reads, handed to it as fp32; `readsF32` marks them
   * as needed in fp32 exactly (never demoted to 16 bits).
   */
  record(
    op: string,
    output: Tensor,
    saved: readonly Tensor[],
    backward: BackwardFn,
    readsGiven?: readonly Tensor[],
    readsF32 = false,
  ): Tensor {
    this.checkRecording(op);
    // An op that does not say what its backward reads may read anything: from here on nothing is freed or demoted
    if (readsGiven === undefined) this.undeclared = true;
    const reads = readsGiven ?? [];
    for (const r of reads) {
      if (this.done.has(r)) throw new StateError(`tape.record(${op}): an input was already handed to forwardDone`);
      (readsF32 ? this.pinned : this.readBy).add(r);
    }
    this.nodes.push({ kind: 'op', op, output, saved, reads, backward });
    this.requiresGrad.add(output);
    this.regionOutputs[this.regionOutputs.length - 1].push(output);
    return output;
  }

  /** Marks the start of a module's forward region; its hooks fire when backward crosses the region. */
  enterRegion(hooks: RegionHooks): void {
    this.checkRecording('enterRegion');
    this.nodes.push({ kind: 'enter', hooks });
    this.openRegions++;
    this.regionOutputs.push([]);
  }

  /**
   * Marks the end of a module's region. Op outputs recorded inside it and not in `keep` (what the module
   * returns) are done for forward: see [Note: what backward reads].
   */
  exitRegion(hooks: RegionHooks, keep: readonly Tensor[] = []): void {
    this.checkRecording('exitRegion');
    if (this.openRegions === 0) throw new StateError('tape: exitRegion without a matching enterRegion');
    this.nodes.push({ kind: 'exit', hooks });
    this.openRegions--;
    const inner = this.regionOutputs.pop() ?? [];
    const outer = this.regionOutputs[this.regionOutputs.length - 1];
    for (const t of inner) {
      if (keep.includes(t)) outer.push(t);
      else this.demote(t);
    }
  }

  /** Forward will not read these op outputs (or borrowed leaves) again; see [Note: what backward reads]. */
  forwardDone(...ts: Tensor[]): void {
    for (const list of this.regionOutputs) {
      for (const t of ts) {
        const i = list.indexOf(t);
        if (i >= 0) list.splice(i, 1);
      }
    }
    for (const t of ts) this.demote(t);
  }

  /** Every op output not handed over yet, except `keep`: the end of a forward that has no enclosing region. */
  forwardDoneExcept(keep: readonly Tensor[]): void {
    const all = this.regionOutputs.flat().filter((t) => !keep.includes(t));
    this.forwardDone(...all);
  }

  /**
   * A leaf over `x`'s memory (not copied, not owned): a checkpoint's input as its inner tape sees it. Its gradient
   * is readable with grad() until clear().
   */
  borrow(x: Tensor): Tensor {
    this.checkRecording('borrow');
    const t = Tensor.view(this.device, x.ptr, x.shape, x.dtype);
    this.requiresGrad.add(t);
    this.leaves.add(t);
    this.borrowed.add(t);
    return t;
  }

  /** Device bytes of the 16-bit copies held now (for tests). */
  get halfBytes(): number {
    let n = 0;
    for (const h of this.halves.values()) n += h.bytes;
    return n;
  }

  private demote(t: Tensor): void {
    if (this.undeclared || this.done.has(t) || this.retained.has(t) || this.pinned.has(t)) return;
    const own = this.requiresGrad.has(t) && !this.leaves.has(t);
    if (!own && !this.borrowed.has(t)) return;
    this.done.add(t);
    if (this.readBy.has(t)) {
      if (this.activationDType === 'f32' || t.dtype !== 'f32') return;
      const h = Tensor.empty(this.device, t.shape, {
        dtype: this.activationDType,
        category: 'activation',
        label: 'saved for backward (16-bit)',
      });
      this.device.kernels.castToHalf(h.ptr, t.ptr, t.numel, this.activationDType);
      this.halves.set(t, h);
    }
    if (own) t.dispose();
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
    this.run(loss, seed);
    return value;
  }

  /**
   * Backpropagates from `y` (an op output of this tape) with d(y) = a copy of `dy` (fp32, y's shape): the inner
   * backward of a checkpoint.
   */
  backwardFrom(y: Tensor, dy: Tensor): void {
    this.checkRecording('backwardFrom');
    if (!this.requiresGrad.has(y) || this.leaves.has(y))
      throw new StateError('tape.backwardFrom: y is not an op output');
    expectSameShape(y, dy);
    const seed = Tensor.empty(this.device, y.shape, { dtype: 'f32', category: 'activation', label: 'grad' });
    this.device.kernels.copy(seed.ptr, dy.ptr, dy.bytes);
    this.run(y, seed);
  }

  private run(y: Tensor, seed: Tensor): void {
    if (this.openRegions !== 0) throw new StateError(`tape.backward: ${this.openRegions} module region(s) still open`);
    this.grads.set(y, seed);
    this._state = 'backward-done';
    // Pop as we go, so that clear() after a throwing hook or op frees exactly what is left.
    for (let node = this.nodes.pop(); node !== undefined; node = this.nodes.pop()) {
      if (node.kind === 'op') this.runNode(node);
      else if (node.kind === 'exit') node.hooks.preBackward();
      else node.hooks.postBackward();
    }
  }

  /** Frees every tensor the tape still owns and makes it ready to record again. */
  clear(): void {
    for (const node of this.nodes) if (node.kind === 'op') this.freeNode(node);
    for (const g of this.grads.values()) g.dispose();
    for (const t of this.inputs) t.dispose();
    for (const t of this.retained) t.dispose();
    for (const h of this.halves.values()) h.dispose();
    this.halves.clear();
    this.done.clear();
    this.readBy.clear();
    this.pinned.clear();
    this.borrowed.clear();
    this.undeclared = false;
    this.regionOutputs = [[]];
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
    const ups: Tensor[] = [];
    try {
      if (dOut !== undefined)
        node.backward(
          dOut,
          node.reads.map((r) => this.fp32Of(r, ups)),
        );
    } finally {
      for (const u of ups) u.dispose();
      this.freeNode(node);
    }
  }

  /** `r` itself, or a workspace upcast of its 16-bit copy (disposed by the caller). */
  private fp32Of(r: Tensor, ups: Tensor[]): Tensor {
    const h = this.halves.get(r);
    if (h === undefined) return r;
    const t = Tensor.empty(this.device, r.shape, { dtype: 'f32', category: 'workspace', label: 'upcast for backward' });
    ups.push(t);
    this.device.kernels.castFromHalf(t.ptr, h.ptr, r.numel, h.dtype as 'bf16' | 'f16', false);
    return t;
  }

  private freeNode(node: OpNode): void {
    const g = this.grads.get(node.output);
    if (g !== undefined && !this.leaves.has(node.output)) {
      g.dispose();
      this.grads.delete(node.output);
    }
    if (!this.retained.has(node.output)) node.output.dispose();
    this.halves.get(node.output)?.dispose();
    this.halves.delete(node.output);
    for (const t of node.saved) t.dispose();
  }

  private checkRecording(what: string): void {
    if (this._state !== 'recording')
      throw new StateError(`tape.${what}: backward already ran on this tape; call clear() before recording again`);
  }
}

function expectSameShape(y: Tensor, dy: Tensor): void {
  if (dy.dtype !== 'f32' || dy.numel !== y.numel)
    throw new ShapeError(
      `tape.backwardFrom: gradient [${dy.shape.join(', ')}] ${dy.dtype} does not match [${y.shape.join(', ')}]`,
    );
}
