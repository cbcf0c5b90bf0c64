// Deciding the layout from the model and the policy: buckets of reduce_bucket_size for stages 0-2 (contiguous
// gradients reduced bucket by bucket), one group per module for stage 3 (what a module's forward needs is gathered
// together), and which groups each module must have gathered around its forward and backward.
import type { ProcessGroup } from '../comm/types.js';
import type { ZeroPolicy } from '../config/policy.js';
import type { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import type { Device } from '../tensor/device.js';
import type { FlatDType } from './flat-buffer.js';
import { bucketize, groupedLayout } from './partition.js';
import type { ZeroPlan } from './plan.js';

export interface BuiltPlan {
  readonly plan: ZeroPlan;
  readonly params: readonly Parameter[];
  /** stage 3: the groups each module uses directly (its own parameters and shared ones such as a tied head's) */
  readonly moduleGroups: readonly { module: Module; groups: readonly number[] }[];
}

export function buildPlan(model: Module, policy: ZeroPolicy, device: Device, group: ProcessGroup): BuiltPlan {
  const params = model.parameters();
  const index = new Map(params.map((p, i) => [p, i]));
  const shapes = params.map((p) => ({ name: p.name, numel: p.numel }));
  let groups: number[][];
  const modules = model.modules();
  if (policy.parameterFetcher.kind === 'gather-per-module') {
    const assigned = new Set<number>();
    groups = [];
    for (const m of modules) {
      const own = m.directParameters().map((p) => index.get(p)!).filter((i) => i !== undefined && !assigned.has(i));
      own.forEach((i) => assigned.add(i));
      if (own.length > 0) groups.push(own.sort((a, b) => a - b));
    }
  } else {
    groups = bucketize(shapes, policy.gradientReducer.bucketElements);
  }
  const layout = groupedLayout(shapes, groups, { worldSize: group.worldSize });
  const dtype: FlatDType = policy.precision === 'fp32' ? 'f32' : policy.precision === 'bf16' ? 'bf16' : 'f16';
  const plan: ZeroPlan = {
    device, group, layout, dtype, partitioned: policy.optimizerState.partitioned,
    shapes: params.map((p) => p.shape), names: params.map((p) => p.name),
  };
  const moduleGroups = modules.map((module) => ({
    module,
    groups: [...new Set(module.directParameters().map((p) => layout.locate[index.get(p)!][0]))],
  }));
  return { plan, params, moduleGroups };
}
