// The stage-3 parameter shard's placement the policy names, built once: on the device, in host memory
// (offload_param "cpu") or in a swap file under offload_param.nvme_path ("nvme"). The fetcher and the optimizer see
// only ShardStorage. The nvme path is checked first (exists, writable, room for the shard's bytes and, when the
// optimizer's swap files share the directory, theirs too), before anything is allocated or written.
import { resolve } from 'node:path';
import type { ZeroPolicy } from '../config/policy.js';
import { ConfigError } from '../errors.js';
import type { Optimizer } from '../optim/index.js';
import type { HostMemory } from '../tensor/host.js';
import { ELEMENT_BYTES, FlatBuffer } from './flat-buffer.js';
import { HostFlat, type ShardStorage } from './host-flat.js';
import { checkNvmePath } from './offload/nvme-path.js';
import { NvmeParamShard } from './offload/nvme-param-shard.js';
import { segmentsNumel, type ZeroPlan } from './plan.js';

export function makeParamShard(
  policy: ZeroPolicy,
  plan: ZeroPlan,
  optimizer: Optimizer,
  host: HostMemory | undefined,
): ShardStorage {
  const { layout, dtype, device } = plan;
  const placement = policy.paramShardPlacement;
  if (placement === 'device')
    return FlatBuffer.zeros(device, layout.shardNumel, dtype, 'param', 'parameters (own shard)');
  if (host === undefined)
    throw new ConfigError(
      `config "zero_optimization.offload_param.device" = "${placement === 'host' ? 'cpu' : 'nvme'}" needs host ` +
        'memory: pass initialize({ ..., host: new HostMemory() })',
      'zero_optimization.offload_param.device',
    );
  if (placement === 'host')
    return new HostFlat(host, layout.shardNumel, dtype, 'param', 'parameters (own shard, offloaded)');
  const path = policy.paramShardNvmePath!;
  const need = paramSwapBytes(policy, plan, optimizer);
  checkNvmePath(
    path,
    need.bytes,
    'zero_optimization.offload_param.nvme_path',
    need.shared ? "this rank's parameter shard and optimizer swap files" : "this rank's parameter shard swap file",
  );
  const o = policy.paramShardNvme!;
  return new NvmeParamShard(host, layout.shardNumel, dtype, path, plan.group.rank, {
    bufferCount: o.bufferCount,
    // a piece of the step is at most a sub-group: a larger window would never fill
    bufferElements: Math.min(o.bufferElements, policy.optimizerState.subGroupElements || o.bufferElements),
    resident: residentElements(plan, o.maxInCpu),
    ioThreads: o.ioThreads,
    blockBytes: o.blockBytes,
  });
}

/**
 * The shard elements offload_param.max_in_cpu keeps in host memory: the longest prefix of whole buckets (a gather
 * or a checkpoint never straddles it) of at most max_in_cpu elements and of one host allocation (MAX_RESIDENT_BYTES).
 */
export function residentElements(plan: ZeroPlan, maxInCpu: number): number {
  const cap = Math.min(maxInCpu, Math.floor(MAX_RESIDENT_BYTES / ELEMENT_BYTES[plan.dtype]));
  let n = 0;
  for (const bk of plan.layout.buckets) {
    const end = bk.shardOffset + bk.layout.chunk;
    if (end > cap) break;
    n = end;
  }
  return n;
}

/** One host allocation at most (an arena is capped at 4 GiB). */
const MAX_RESIDENT_BYTES = 2 ** 31;

/**
 * The bytes offload_param.nvme_path must have free: the shard's swap file, and the optimizer's swap files when
 * offload_optimizer.nvme_path is the same directory (checked once, before either is written).
 */
export function paramSwapBytes(
  policy: ZeroPolicy,
  plan: ZeroPlan,
  optimizer: Optimizer,
): { bytes: number; shared: boolean } {
  const kept = policy.paramShardNvme === null ? 0 : residentElements(plan, policy.paramShardNvme.maxInCpu);
  const mine = (plan.layout.shardNumel - kept) * ELEMENT_BYTES[plan.dtype];
  const o = policy.optimizerState.nvme;
  const path = policy.paramShardNvmePath;
  const shared = o !== null && path !== null && resolve(o.path) === resolve(path);
  return { bytes: mine + (shared ? (1 + optimizer.stateKeys.length) * segmentsNumel(plan) * 4 : 0), shared };
}
