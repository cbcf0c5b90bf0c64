// The engine's side of checkpoints (issue 8): its parts seen as src/checkpoint's ShardedState (segments of the
// master weights, optimizer state and 16-bit weights by bucket; the step's scalars). The checkpoint logic itself
// (files, manifest, resharding) is src/checkpoint's; this file only adapts.
import type { ProcessGroup } from '../comm/types.js';
import type { RunScalars, ShardedState } from '../checkpoint/types.js';
import type { ZeroConfig } from '../config/types.js';
import type { DynamicLossScaler, LRScheduler, Optimizer } from '../optim/index.js';
import type { OptimizerStateDict } from '../optim/optimizer.js';
import type { OptimizerStatePart } from './optimizer-part.js';
import { segment, type ZeroPlan } from './plan.js';
import { readView } from './host-flat.js';
import type { ParameterStore } from './parameter-store.js';

export interface EngineParts {
  readonly plan: ZeroPlan;
  readonly group: ProcessGroup;
  readonly store: ParameterStore;
  readonly state: OptimizerStatePart;
  readonly optimizer: Optimizer;
  readonly scheduler: LRScheduler;
  readonly scaler: DynamicLossScaler | null;
  readonly config: ZeroConfig;
  readonly modelConfig: unknown;
  readonly pendingMicroSteps: number;
  getGlobalSteps(): number;
  setGlobalSteps(n: number): void;
}

export function shardedState(e: EngineParts): ShardedState {
  const { plan, store, state } = e;
  const segLen = (b: number) => segment(plan, b).end - segment(plan, b).start;
  return {
    group: e.group,
    names: plan.names,
    shapes: plan.shapes,
    layout: plan.layout,
    partitioned: plan.partitioned,
    dtype: plan.dtype,
    stateKeys: state.stateKeys,
    stage: e.config.zero.stage,
    trainBatchSize: e.config.trainBatchSize,
    config: e.config,
    modelConfig: e.modelConfig,
    pendingMicroSteps: e.pendingMicroSteps,
    scratch(bytes) {
      const a = plan.device.alloc(Math.max(8, Math.ceil(bytes / 4) * 4), 'comm', 'checkpoint agreement');
      return {
        f32: plan.device.f32(a.ptr, Math.max(8, Math.ceil(bytes / 4) * 4) / 4),
        u16: plan.device.u16(a.ptr, Math.max(8, Math.ceil(bytes / 4) * 4) / 2),
        free: () => plan.device.free(a),
      };
    },
    readSegment(kind, b) {
      if (kind === 'param16') {
        const { buf, offset } = store.segmentParam(b);
        return (readView(buf, offset, segLen(b)) as Uint16Array).slice();
      }
      return state.readSegment(kind === 'master' ? 'param' : kind, b, store);
    },
    writeSegment(kind, b, data) {
      if (kind === 'param16') {
        const { buf, offset } = store.segmentParam(b);
        (buf.comm(offset, segLen(b)) as Uint16Array).set(data);
        return;
      }
      state.writeSegment(kind === 'master' ? 'param' : kind, b, store, data as Float32Array);
    },
    finishLoad(param16Written) {
      // fp32 on the device: the master is the parameters (a no-op); offloaded or 16-bit: a copy, rounded
      if (!param16Written) state.writeParamsFromMaster(store);
      store.gatherUpdated();
    },
    scalars(): RunScalars {
      return {
        globalSteps: e.getGlobalSteps(),
        optimizer: e.optimizer.stateDict(),
        scheduler: e.scheduler.stateDict(),
        scaler: e.scaler?.stateDict() ?? null,
      };
    },
    loadScalars(s) {
      e.optimizer.loadStateDict(s.optimizer as OptimizerStateDict);
      e.scheduler.loadStateDict(s.scheduler);
      if (e.scaler !== null && s.scaler !== null) e.scaler.loadStateDict(s.scaler);
      e.setGlobalSteps(s.globalSteps);
    },
  };
}
