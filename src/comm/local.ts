// A process group of one rank in the calling thread, without a launcher: the threads transport at world size 1
// (collectives are copies or no-ops, with the same checks, log and errors as in a larger world).
import { Group } from './group.js';
import { checkJoin, type ThreadsGroupOptions } from './threads/setup.js';
import { createControlBlock } from './threads/control.js';
import { ThreadsTransport } from './threads/transport.js';
import type { ProcessGroup } from './types.js';
import type { CommMemory } from './wasm.js';

export function localProcessGroup(memory: CommMemory, opts: ThreadsGroupOptions = {}): ProcessGroup {
  checkJoin(0, memory, opts);
  const transport = new ThreadsTransport({
    rank: 0,
    worldSize: 1,
    control: createControlBlock(1),
    memories: [memory],
    spinIterations: 0,
    scratch: opts.scratch,
  });
  return new Group(transport, opts);
}
