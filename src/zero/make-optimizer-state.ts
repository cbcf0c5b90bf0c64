// The optimizer-state part the policy names, built once: on the device, resident in host memory (offload "cpu"),
// or swapped to NVMe through host buffers (offload "nvme"). Offloaded states are cut into sub-groups of at most
// sub_group_size elements, and never more than one arena holds ([Note: sub-groups]).
import { availableParallelism } from 'node:os';
import type { ZeroPolicy } from '../config/policy.js';
import { ConfigError } from '../errors.js';
import { kernelScratchBytes } from '../kernels/index.js';
import type { Optimizer } from '../optim/index.js';
import { MAX_DEVICE_BYTES, RESERVED_BYTES } from '../tensor/device.js';
import type { HostMemory } from '../tensor/host.js';
import { TMP_BYTES } from './offload/adam-job.js';
import { NvmeStore } from './offload/nvme-store.js';
import { OffloadedOptimizerState } from './offload/offloaded-state.js';
import { ResidentStore, type SubGroupStore } from './offload/sub-group-store.js';
import { planSubGroups, subGroupElements } from './offload/sub-groups.js';
import type { OptimizerStatePart } from './optimizer-part.js';
import { OptimizerState, type SegmentTarget } from './optimizer-state.js';
import type { ZeroPlan } from './plan.js';

export interface OptimizerPlacementOptions {
  host?: HostMemory;
  noDecay?: (name: string, shape: readonly number[]) => boolean;
  /** threads of an offloaded step, the caller's included (default: offloadThreadsDefault) */
  offloadThreads?: number;
  /** ranks sharing this machine's cores (default: the group's world size) */
  localWorldSize?: number;
}

/** Every core, shared by the ranks on the machine: max(1, floor(cores / ranks per machine)). */
export function offloadThreadsDefault(localWorldSize: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, localWorldSize)));
}

/** Offload needs host memory: refused before anything is allocated when it is missing. */
export function checkHostMemory(policy: ZeroPolicy, host: HostMemory | undefined): HostMemory | undefined {
  const placement = policy.optimizerState.placement;
  if (placement !== 'device' && host === undefined)
    throw new ConfigError(
      `config "zero_optimization.offload_optimizer.device" = "${placement === 'host' ? 'cpu' : 'nvme'}" needs host ` +
        'memory: pass initialize({ ..., host: new HostMemory() })',
      'zero_optimization.offload_optimizer.device',
    );
  return host;
}

export function makeOptimizerState(
  policy: ZeroPolicy,
  plan: ZeroPlan,
  optimizer: Optimizer,
  target: SegmentTarget,
  o: OptimizerPlacementOptions,
): OptimizerStatePart {
  const placement = policy.optimizerState.placement;
  if (placement === 'device') return new OptimizerState(plan, optimizer, target, { noDecay: o.noDecay });
  const host = checkHostMemory(policy, o.host)!;
  const threads = o.offloadThreads ?? offloadThreadsDefault(o.localWorldSize ?? plan.group.worldSize);
  const perElement = 1 + optimizer.stateKeys.length;
  // what one arena can hold besides its reserved bytes, kernel scratch and the threads' workspace
  const room = MAX_DEVICE_BYTES - RESERVED_BYTES - kernelScratchBytes() - threads * TMP_BYTES - (1 << 20);
  const groups = planSubGroups(
    plan,
    subGroupElements(policy.optimizerState.subGroupElements, Math.floor(room / (perElement * 4))),
  );
  const nvme = policy.optimizerState.nvme;
  const store: SubGroupStore =
    nvme === null
      ? new ResidentStore(host, groups, perElement, threads)
      : new NvmeStore(host, groups, perElement, threads, nvme, plan.group.rank);
  try {
    return new OffloadedOptimizerState(plan, optimizer, target, store, { threads, noDecay: o.noDecay });
  } catch (e) {
    store.dispose();
    throw e;
  }
}
