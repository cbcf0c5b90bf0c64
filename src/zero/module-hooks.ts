// The per-module hook state of stage 3 (FSDP2's FSDPState, in small): a module's parameter groups are acquired
// before its forward and its backward and let go after each. A gather that fails (ranks that diverged in which
// modules they run fail here with a collective mismatch) names the module and the phase it was for.
import type { Module } from '../nn/module.js';

export interface GroupAccess {
  acquire(b: number): void;
  letGo(b: number): void;
}

export class ModuleHookState {
  private readonly unhook: (() => void)[];

  constructor(module: Module, groups: readonly number[], rank: number, access: GroupAccess) {
    const name = module.prefix === '' ? '(root)' : module.prefix;
    const named = (phase: string, fn: () => void) => () => {
      try {
        fn();
      } catch (e) {
        if (e instanceof Error && !e.message.startsWith('stage 3'))
          e.message = `stage 3, module "${name}" (${phase}), rank ${rank}: ${e.message}`;
        throw e;
      }
    };
    const pre = () => {
      for (const b of groups) access.acquire(b);
    };
    const post = () => {
      for (const b of groups) access.letGo(b);
    };
    this.unhook = [
      module.registerPreForward(named('before forward', pre)),
      module.registerPostForward(named('after forward', post)),
      module.registerPreBackward(named('before backward', pre)),
      module.registerPostBackward(named('after backward', post)),
      // issue 9: a checkpointed block's recompute gathers as a forward would ([Note: recompute hooks] in src/nn)
      module.registerPreRecompute(named('before recompute', pre)),
      module.registerPostRecompute(named('after recompute', post)),
    ];
  }

  dispose(): void {
    for (const u of this.unhook) u();
  }
}
