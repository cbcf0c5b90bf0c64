// Gradient readiness from module boundaries: a parameter's gradient is complete once every module that used it in
// this forward has finished its backward (its post-backward hook: after the module's last backward op). Modules
// use a parameter when it is in their directParameters (GPT's tied wte: the embedding and the LM head), so the
// tied weight is ready only after the embedding's backward, the last one. This works from the first step on and
// needs no knowledge of how many gradient contributions a parameter gets.
import type { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';

export class ReadinessTracker {
  /** per module: forwards run in this micro-step minus backwards finished */
  private readonly open = new Map<Module, number>();
  /** per parameter (layout index): the modules that use it */
  private readonly users: Module[][];
  private readonly unhook: (() => void)[] = [];

  /**
   * @param onReady parameter i's gradient of this backward is complete
   * @param onStart a module using parameter i is about to run its backward (gradients for i are coming)
   */
  constructor(
    modules: readonly Module[],
    params: readonly Parameter[],
    private readonly onReady: (i: number) => void,
    onStart: (i: number) => void = () => {},
  ) {
    const index = new Map(params.map((p, i) => [p, i]));
    this.users = params.map(() => []);
    for (const m of modules) {
      const mine = [
        ...new Set(
          m
            .directParameters()
            .map((p) => index.get(p))
            .filter((i): i is number => i !== undefined),
        ),
      ];
      if (mine.length === 0) continue;
      mine.forEach((i) => this.users[i].push(m));
      this.unhook.push(
        m.registerPreForward(() => this.open.set(m, (this.open.get(m) ?? 0) + 1)),
        m.registerPreBackward(() => {
          for (const i of mine) onStart(i);
        }),
        m.registerPostBackward(() => {
          const n = (this.open.get(m) ?? 0) - 1;
          this.open.set(m, n);
          if (n === 0)
            for (const i of mine) if (this.users[i].every((u) => (this.open.get(u) ?? 0) === 0)) this.onReady(i);
        }),
      );
    }
  }

  /** After each backward: a new micro-step starts from nothing open. */
  reset(): void {
    this.open.clear();
  }

  dispose(): void {
    for (const u of this.unhook) u();
  }
}
