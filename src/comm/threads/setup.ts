// Joining a threads world: each rank posts its device memory to the launcher, which answers with every rank's
// memory once all have joined (or with the rank that was lost first). Then the rank builds its ThreadsTransport
// and ProcessGroup. The launcher side is src/launch/threads.ts.
import type { MessagePort } from 'node:worker_threads';
import { CollectiveTimeoutError, ConfigError, PeerLostError, ShapeError } from '../../errors.js';
import { DEFAULT_TIMEOUT_MS, Group, type ProcessGroupOptions } from '../group.js';
import { checkTimeout } from '../validate.js';
import type { ProcessGroup } from '../types.js';
import type { CommMemory } from '../wasm.js';
import { markRank, Status, statusWhy } from './control.js';
import { createMailbox, ProgressTransport, startHelper } from './progress.js';
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
  /**
   * A staging area in the rank's memory for reductions (byte offset, bytes), e.g. a 'comm' allocation that no
   * tensor uses while collectives run. Without it the 8 KiB comm slot is used, which costs bandwidth on large
   * reductions (small blocks); 256 KiB or more reaches full speed. Other transports ignore it.
   */
  scratch?: { ptr: number; bytes: number };
  /**
   * Progress *Async collectives on a helper thread ([Note: progress thread] in progress.ts) so that they overlap
   * the rank's computation; worth it when there are spare cores. Default false: *Async runs at the call.
   */
  progressThread?: boolean;
}

/** Rank -> launcher. */
export interface JoinMessage {
  kind: 'join';
  rank: number;
  memory: CommMemory;
}
/** Launcher -> rank. */
export type JoinReply =
  | { kind: 'memories'; memories: CommMemory[] }
  | { kind: 'lost'; lostRank: number; status: number };

/** The argument checks of joinThreadsGroup, callable first (a refused call does not count as joining). */
export function checkJoin(rank: number, memory: CommMemory, opts: ThreadsGroupOptions = {}): void {
  if (!(memory.buffer instanceof SharedArrayBuffer)) {
    throw new ShapeError(
      `rank ${rank}: initProcessGroup needs a shared WebAssembly.Memory (created with shared: true) ` +
        'so that peers can read and write it; got an unshared memory',
    );
  }
  checkTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  checkScratch(opts.scratch, memory.buffer.byteLength, rank);
}

export async function joinThreadsGroup(
  rv: ThreadsRendezvous,
  memory: CommMemory,
  opts: ThreadsGroupOptions = {},
): Promise<ProcessGroup> {
  checkJoin(rv.rank, memory, opts);
  // the join waits for every rank to start, as the TCP rendezvous does: rendezvousTimeoutMs when given
  const timeoutMs = opts.rendezvousTimeoutMs ?? opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const reply = await new Promise<JoinReply | null>((resolve) => {
    rv.port.once('message', (m: JoinReply) => resolve(m));
    rv.port.postMessage({ kind: 'join', rank: rv.rank, memory } satisfies JoinMessage);
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  clearTimeout(timer);
  rv.port.unref();
  if (reply === null) {
    markRank(rv.control, rv.rank, Status.abandoned, true);
    throw new CollectiveTimeoutError(
      `collective timeout: rank ${rv.rank} waited more than ${timeoutMs} ms in ` +
        'initProcessGroup for the other ranks to join; every rank must call initProcessGroup',
      'init',
      rv.rank,
      -1,
    );
  }
  if (reply.kind === 'lost') {
    markRank(rv.control, rv.rank, Status.abandoned);
    throw new PeerLostError(
      `peer lost: rank ${reply.lostRank} ${statusWhy(reply.status)} before every rank joined the ` +
        `process group; rank ${rv.rank} was waiting for it in initProcessGroup`,
      reply.lostRank,
    );
  }
  // the own entry must be the caller's object: buffers are recognised by their SharedArrayBuffer's identity
  const memories = reply.memories.map((m, r) => (r === rv.rank ? memory : m));
  const o = {
    rank: rv.rank,
    worldSize: rv.worldSize,
    control: rv.control,
    spinIterations: rv.spinIterations,
    scratch: opts.scratch,
  };
  const transport = new ThreadsTransport({ ...o, memories });
  if (!opts.progressThread) return new Group(transport, opts);
  const mailbox = createMailbox();
  const helper = await startHelper({ ...o, memories: reply.memories, mailbox });
  return new Group(new ProgressTransport(transport, mailbox, helper), opts);
}

function checkScratch(sc: { ptr: number; bytes: number } | undefined, memoryBytes: number, rank: number): void {
  if (!sc) return;
  const ok =
    Number.isInteger(sc.ptr) &&
    Number.isInteger(sc.bytes) &&
    sc.ptr >= 65536 &&
    sc.ptr % 64 === 0 &&
    sc.bytes >= 4096 &&
    sc.ptr + sc.bytes <= memoryBytes;
  if (!ok) {
    throw new ConfigError(
      `rank ${rank}: initProcessGroup scratch ${JSON.stringify(sc)} must be a 64-byte aligned range of ` +
        `at least 4096 bytes inside the device memory above its reserved first 64 KiB (memory: ${memoryBytes} bytes)`,
      'scratch',
    );
  }
}
