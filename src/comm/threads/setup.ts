// Joining a threads world: each rank posts its device memory to the launcher, which answers with every rank's
// memory once all have joined (or with the rank that was lost first). Then the rank builds its ThreadsTransport
// and ProcessGroup. The launcher side is src/launch/threads.ts.
import type { MessagePort } from 'node:worker_threads';
import { PeerLostError, ShapeError } from '../../errors.js';
import { Group, type ProcessGroupOptions } from '../group.js';
import type { ProcessGroup } from '../types.js';
import type { CommMemory } from '../wasm.js';
import { markRank, Status, statusWhy } from './control.js';
import { ThreadsTransport } from './transport.js';

/** What a rank's thread gets from the launcher (structured-cloneable, the port transferred). */
export interface ThreadsRendezvous {
  rank: number;
  worldSize: number;
  control: SharedArrayBuffer;
  port: MessagePort;
  spinIterations: number;
}

export interface ThreadsGroupOptions extends ProcessGroupOptions {
  /** A staging area in the rank's memory for reductions (byte offset, bytes); larger blocks, fewer calls. */
  scratch?: { ptr: number; bytes: number };
}

/** Rank -> launcher. */
export interface JoinMessage { kind: 'join'; rank: number; memory: CommMemory }
/** Launcher -> rank. */
export type JoinReply = { kind: 'memories'; memories: CommMemory[] } | { kind: 'lost'; lostRank: number; status: number };

export async function joinThreadsGroup(rv: ThreadsRendezvous, memory: CommMemory, opts: ThreadsGroupOptions = {}): Promise<ProcessGroup> {
  if (!(memory.buffer instanceof SharedArrayBuffer)) {
    throw new ShapeError(`rank ${rv.rank}: initProcessGroup needs a shared WebAssembly.Memory (created with shared: true) ` +
      'so that peers can read and write it; got an unshared memory');
  }
  const reply = await new Promise<JoinReply>((resolve) => {
    rv.port.once('message', (m: JoinReply) => resolve(m));
    rv.port.postMessage({ kind: 'join', rank: rv.rank, memory } satisfies JoinMessage);
  });
  rv.port.unref();
  if (reply.kind === 'lost') {
    markRank(rv.control, rv.rank, Status.abandoned);
    throw new PeerLostError(`peer lost: rank ${reply.lostRank} ${statusWhy(reply.status)} before every rank joined the ` +
      `process group; rank ${rv.rank} was waiting for it in initProcessGroup`, reply.lostRank);
  }
  // the own entry must be the caller's object: buffers are recognised by their SharedArrayBuffer's identity
  const memories = reply.memories.map((m, r) => (r === rv.rank ? memory : m));
  const transport = new ThreadsTransport({
    rank: rv.rank, worldSize: rv.worldSize, control: rv.control, memories,
    spinIterations: rv.spinIterations, scratch: opts.scratch,
  });
  return new Group(transport, opts);
}
