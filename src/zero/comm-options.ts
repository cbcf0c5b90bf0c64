// The process-group options a ZeRO rank should join with, and the device memory they need. The threads transport
// stages reductions through a scratch area of the rank's own memory: without one it uses an 8 KiB slot and large
// reductions move in small blocks (src/comm/README.md, [Note: staging of peer data]); 256 KiB or more is about
// 10-15% faster on large reductions. The scratch is a 'comm' allocation owned here, so memoryStats() shows it.
// overlap_comm only overlaps for real with a progress thread (otherwise *Async collectives run at the call), so the
// progress thread follows the config's overlap_comm unless the caller says otherwise (it costs a core per rank).
import type { ThreadsGroupOptions } from '../comm/threads/setup.js';
import { isResolvedConfig, resolveConfig } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import type { Allocation, Device } from '../tensor/device.js';

/** Default scratch: 1 MiB (full speed from 256 KiB; a bit more lets the larger blocks of big world sizes fit). */
export const DEFAULT_COMM_SCRATCH_BYTES = 1 << 20;
const MIN_COMM_SCRATCH_BYTES = 256 << 10;

export interface CommOptionsRequest {
  /** The world size the config is resolved for (a raw DeepSpeed config needs it for the batch-size triple). */
  worldSize: number;
  /** Scratch bytes (default 1 MiB, at least 256 KiB). */
  scratchBytes?: number;
  /** Per-collective timeout passed through. */
  timeoutMs?: number;
  /** Default: the config's zero_optimization.overlap_comm (false for stages 0-2, true for stage 3 as DeepSpeed). */
  progressThread?: boolean;
}

export interface CommOptions {
  /** Pass to ctx.initProcessGroup(device.memory, options). Transports other than threads ignore what they lack. */
  readonly options: ThreadsGroupOptions;
  /** The 'comm' allocation backing options.scratch. */
  readonly scratch: Allocation;
  /** Frees the scratch; call after the process group is no longer used (after the engine's dispose()). */
  dispose(): void;
}

/** The process-group options for a rank training with `config` on `device` (see the file header). */
export function commOptionsFor(device: Device, config: unknown, req: CommOptionsRequest): CommOptions {
  const bytes = req.scratchBytes ?? DEFAULT_COMM_SCRATCH_BYTES;
  if (!Number.isInteger(bytes) || bytes < MIN_COMM_SCRATCH_BYTES) {
    throw new ConfigError(
      `commOptionsFor: scratchBytes = ${bytes}; use a whole number >= ${MIN_COMM_SCRATCH_BYTES} (256 KiB), default ` +
        `${DEFAULT_COMM_SCRATCH_BYTES}`,
      'scratchBytes',
    );
  }
  const resolved = isResolvedConfig(config) ? config : resolveConfig(config, { worldSize: req.worldSize });
  const scratch = device.alloc(bytes, 'comm', 'collective staging (threads transport scratch)');
  let freed = false;
  return {
    options: {
      scratch: { ptr: scratch.ptr, bytes: scratch.bytes },
      progressThread: req.progressThread ?? resolved.zero.overlapComm,
      ...(req.timeoutMs === undefined ? {} : { timeoutMs: req.timeoutMs }),
    },
    scratch,
    dispose() {
      if (freed) return;
      freed = true;
      device.free(scratch);
    },
  };
}
