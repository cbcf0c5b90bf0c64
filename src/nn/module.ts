// Module: named parameters, children, and hooks around forward and backward.
// [Note: module regions] a module's forward runs inside `this.region(tape, fn)`: pre-forward hooks, an enter
// marker on the tape, fn, an exit marker, post-forward hooks. When backward reaches the exit marker the module's
// pre-backward hooks fire (before its first backward op), at the enter marker its post-backward hooks (after its
// last). A ZeRO stage-3 engine gathers a module's parameters in pre-forward/pre-backward and releases them in
// post-forward/post-backward.
// [Note: recompute hooks] when a checkpointed block's forward is recomputed in backward (the tape's `recompute`),
// a module fires preRecompute instead of preForward and, instead of postForward, postRecompute right after its
// pre-backward hooks. What a stage-3 engine gathers for the recompute is thus still held when the module's backward
// starts (its pre-backward gather finds it there: no second gather), and released by postRecompute and
// post-backward; a forward-use count (gradient readiness) sees one forward per micro-step, as without checkpointing.
import type { Tape, RegionHooks } from '../autograd/tape.js';
import { Tensor } from '../tensor/tensor.js';
import type { Parameter } from './parameter.js';

export type ModuleHook = (m: Module) => void;
type HookKind = 'preForward' | 'postForward' | 'preBackward' | 'postBackward' | 'preRecompute' | 'postRecompute';

export abstract class Module {
  private readonly ownParams: Parameter[] = [];
  private readonly childList: [string, Module][] = [];
  private readonly hooks: Record<HookKind, ModuleHook[]> = {
    preForward: [],
    postForward: [],
    preBackward: [],
    postBackward: [],
    preRecompute: [],
    postRecompute: [],
  };
  private readonly regionHooks: RegionHooks = {
    preBackward: () => this.fire('preBackward'),
    postBackward: () => this.fire('postBackward'),
  };
  private readonly recomputeHooks: RegionHooks = {
    preBackward: () => {
      this.fire('preBackward');
      this.fire('postRecompute');
    },
    postBackward: () => this.fire('postBackward'),
  };

  /** @param prefix this module's name path in GPT-2 naming, e.g. `h.0.attn` ('' for the root). */
  constructor(readonly prefix: string) {}

  /** Parameters of the whole tree in registration order (GPT-2 state-dict order), each once. */
  namedParameters(): [string, Parameter][] {
    const seen = new Set<Parameter>();
    const out: [string, Parameter][] = [];
    const walk = (m: Module): void => {
      for (const p of m.ownParams) {
        if (!seen.has(p)) {
          seen.add(p);
          out.push([p.name, p]);
        }
      }
      for (const [, c] of m.childList) walk(c);
    };
    walk(this);
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /**
   * The parameters this module's own forward code uses (not its children's), including shared ones such as the
   * tied LM head's wte: what a stage-3 engine gathers around this module's region.
   */
  directParameters(): Parameter[] {
    return [...this.ownParams];
  }

  children(): Module[] {
    return this.childList.map(([, c]) => c);
  }

  namedChildren(): [string, Module][] {
    return [...this.childList];
  }

  /** Every module of the tree, parents before children. */
  modules(): Module[] {
    return [this, ...this.childList.flatMap(([, c]) => c.modules())];
  }

  registerPreForward(fn: ModuleHook): () => void {
    return this.addHook('preForward', fn);
  }
  registerPostForward(fn: ModuleHook): () => void {
    return this.addHook('postForward', fn);
  }
  registerPreBackward(fn: ModuleHook): () => void {
    return this.addHook('preBackward', fn);
  }
  registerPostBackward(fn: ModuleHook): () => void {
    return this.addHook('postBackward', fn);
  }
  /** Before this module's forward is recomputed in backward (a checkpointed block, see [Note: recompute hooks]). */
  registerPreRecompute(fn: ModuleHook): () => void {
    return this.addHook('preRecompute', fn);
  }
  /** After the module's pre-backward hooks that follow its recompute (what a post-forward would release). */
  registerPostRecompute(fn: ModuleHook): () => void {
    return this.addHook('postRecompute', fn);
  }

  protected addParameter<P extends Parameter>(p: P): P {
    this.ownParams.push(p);
    return p;
  }

  protected addChild<M extends Module>(name: string, m: M): M {
    this.childList.push([name, m]);
    return m;
  }

  /** Child name path: `prefix.name` (or `name` at the root). */
  protected sub(name: string): string {
    return this.prefix === '' ? name : `${this.prefix}.${name}`;
  }

  /** Runs a forward body as this module's region (see [Note: module regions]). */
  protected region<T>(tape: Tape, fn: () => T): T {
    if (tape.recompute) {
      this.fire('preRecompute');
      tape.enterRegion(this.recomputeHooks);
      const out = fn();
      tape.exitRegion(this.recomputeHooks, returnedTensors(out));
      return out;
    }
    this.fire('preForward');
    tape.enterRegion(this.regionHooks);
    const out = fn();
    // What the region returns stays fp32 for the caller; the rest is done for forward ([Note: what backward reads])
    tape.exitRegion(this.regionHooks, returnedTensors(out));
    this.fire('postForward');
    return out;
  }

  private addHook(kind: HookKind, fn: ModuleHook): () => void {
    this.hooks[kind].push(fn);
    return () => {
      const i = this.hooks[kind].indexOf(fn);
      if (i >= 0) this.hooks[kind].splice(i, 1);
    };
  }

  private fire(kind: HookKind): void {
    for (const fn of [...this.hooks[kind]]) fn(this);
  }
}

/** The tensors a region's body returned: the value itself, or the values of a returned object. */
function returnedTensors(out: unknown): Tensor[] {
  if (out instanceof Tensor) return [out];
  if (typeof out !== 'object' || out === null) return [];
  return Object.values(out).filter((v): v is Tensor => v instanceof Tensor);
}
