// DeepSpeed's "aio" block: how swap-file I/O is issued (offload_optimizer and offload_param "nvme"). Two keys act
// on zerots' swap I/O (src/zero/offload/swap-io.ts): thread_count is the number of I/O worker threads of each swap
// (the optimizer's store and the parameter shard), block_size the largest single read or write a worker issues
// (a larger transfer is split). The others tune libaio or GPUDirect Storage submission, which node:fs has no
// counterpart for: accepted without effect (listed once, as the other inert keys).
import { ConfigError } from '../errors.js';

export interface AioConfig {
  /** thread_count: swap I/O worker threads; null: each swap's default (2 for the optimizer's, 1 for the shard's) */
  readonly threadCount: number | null;
  /** block_size: bytes of the largest single read or write; null: no limit but node:fs's (1 GiB a call) */
  readonly blockSize: number | null;
}

/** Keys with no counterpart in node:fs I/O (intra_op_parallelism: newer DeepSpeed's name of thread_count's role). */
export const AIO_INERT = ['queue_depth', 'single_submit', 'overlap_events', 'intra_op_parallelism', 'use_gds'];
export const MAX_AIO_THREADS = 64;
export const MAX_AIO_BLOCK = 2 ** 30;
const MIN_AIO_BLOCK = 512;

export function resolveAio(v: unknown): { aio: AioConfig; ignoredKeys: string[] } {
  if (v === undefined) return { aio: { threadCount: null, blockSize: null }, ignoredKeys: [] };
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new ConfigError(`config "aio" = ${JSON.stringify(v)} must be an object such as {"thread_count": 2}.`, 'aio');
  const o = v as Record<string, unknown>;
  const known = ['thread_count', 'block_size', ...AIO_INERT];
  for (const k of Object.keys(o))
    if (!known.includes(k))
      throw new ConfigError(
        `config "aio.${k}" is not a DeepSpeed aio key; the keys are ${known.join(', ')}.`,
        `aio.${k}`,
      );
  return {
    aio: {
      threadCount: whole(o, 'thread_count', 1, MAX_AIO_THREADS, 'swap I/O worker threads'),
      blockSize: whole(o, 'block_size', MIN_AIO_BLOCK, MAX_AIO_BLOCK, 'bytes of the largest single read or write'),
    },
    ignoredKeys: AIO_INERT.filter((k) => k in o).map((k) => `aio.${k}`),
  };
}

function whole(o: Record<string, unknown>, k: string, min: number, max: number, what: string): number | null {
  const x = o[k];
  if (x === undefined) return null;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max)
    throw new ConfigError(
      `config "aio.${k}" = ${JSON.stringify(x)}: it is the ${what}, a whole number from ${min} to ${max}. ` +
        `Set it in that range, or remove it for the default.`,
      `aio.${k}`,
    );
  return x;
}
