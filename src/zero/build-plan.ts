// Deciding the layout from the model and the policy: buckets of reduce_bucket_size for stages 0-2 (contiguous
// gradients reduced bucket by bucket), one group per gather unit for stage 3 (a subtree of modules up to
// min(stage3_prefetch_bucket_size, stage3_max_live_parameters) elements, else one module: [Note: coalesced gather
// units] in gather-units.ts), and which groups each unit's root module must have gathered around its forward and
// backward.
import type { ProcessGroup } from '../comm/types.js';
import type { ZeroPolicy } from '../config/policy.js';
import type { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import type { Device } from '../tensor/device.js';
import type { FlatDType } from './flat-buffer.js';
import { gatherUnits, type GatherUnit } from './gather-units.js';
import { bucketize, groupedLayout } from './partition.js';
import type { ZeroPlan } from './plan.js';

export interface BuiltPlan {
  readonly plan: ZeroPlan;
  readonly params: readonly Parameter[];
  /**
   * stage 3: the modules that gather (each gather unit's root) and the groups each needs around its forward and
   * backward (its unit's own group and shared ones such as a tied head's); empty for stages 0-2
   */
  readonly moduleGroups: readonly { module: Module; groups: readonly number[] }[];
}

export function buildPlan(model: Module, policy: ZeroPolicy, device: Device, group: ProcessGroup): BuiltPlan {
  const params = model.parameters();
  const shapes = params.map((p) => ({ name: p.name, numel: p.numel }));
  const f = policy.parameterFetcher;
  let units: GatherUnit[] = [];
  let groups: number[][];
  if (f.kind === 'gather-per-module') {
    units = gatherUnits(model, params, Math.max(0, Math.min(f.prefetchElements, f.maxLiveElements)));
    groups = units.filter((u) => u.own.length > 0).map((u) => [...u.own]);
  } else {
    groups = bucketize(shapes, policy.gradientReducer.bucketElements);
  }
  const layout = groupedLayout(shapes, groups, { worldSize: group.worldSize });
  const flat = (p: 'fp32' | 'bf16' | 'fp16'): FlatDType => (p === 'fp32' ? 'f32' : p === 'bf16' ? 'bf16' : 'f16');
  const dtype = flat(policy.precision);
  const commDtype = flat(policy.gradientReducer.commPrecision);
  const plan: ZeroPlan = {
    device,
    group,
    layout,
    dtype,
    ...(commDtype === dtype ? {} : { commDtype }),
    partitioned: policy.optimizerState.partitioned,
    shapes: params.map((p) => p.shape),
    names: params.map((p) => p.name),
  };
  const moduleGroups = units.map((u) => ({
    module: u.module,
    groups: [...new Set(u.uses.map((i) => layout.locate[i][0]))],
  }));
  return { plan, params, moduleGroups };
}
