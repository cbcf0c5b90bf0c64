// DeepSpeed's own estimators (deepspeed.runtime.zero.stage_1_and_2.estimate_zero2_model_states_mem_needs and
// stage3.estimate_zero3_model_states_mem_needs), reproduced for comparison. They add buffers on top of the paper's
// formula (an additional_buffer_factor of 1.5 on host memory, 4 x the largest layer in stage 3) and cover CPU offload.
// "all_cold" takes the counts as numbers; "all_live" derives them from a model's parameters (allLiveCounts below).
// Results are bytes, truncated to whole bytes as DeepSpeed's int() does.

export interface DsEstimate {
  readonly cpuBytes: number; // per node ("per CPU" in DeepSpeed's table)
  readonly gpuBytes: number; // per rank ("per GPU")
  readonly options: string; // DeepSpeed's option string for the row
}

export interface DsHardware {
  readonly gpusPerNode: number;
  readonly nodes: number;
  readonly bufferFactor?: number;
}

export function estimateZero2(totalParams: number, hw: DsHardware, cpuOffload: boolean): DsEstimate {
  const totalGpus = hw.nodes * hw.gpusPerNode;
  const f = hw.bufferFactor ?? 1.5;
  const gpu = cpuOffload ? 2 * totalParams : 4 * totalParams + Math.trunc((16 * totalParams) / totalGpus);
  const cpu = cpuOffload ? totalParams * Math.max(4 * totalGpus, 16) * f : totalParams * 4 * hw.gpusPerNode * f;
  return { cpuBytes: Math.trunc(cpu), gpuBytes: Math.trunc(gpu), options: `cpu_offload=${cpuOffload ? 1 : 0}` };
}

export function estimateZero3(
  totalParams: number,
  largestLayerParams: number,
  hw: DsHardware,
  opts: { offloadOptimizer: boolean; offloadParam: boolean; zeroInit: boolean },
): DsEstimate {
  const totalGpus = hw.nodes * hw.gpusPerNode;
  const gpusFactor = 1 / hw.nodes;
  const f = hw.bufferFactor ?? 1.5;
  const largest = 4 * largestLayerParams;
  let gpu: number;
  let cpu: number;
  if (opts.offloadOptimizer) {
    const k = opts.offloadParam ? 18 : 16;
    gpu = opts.offloadParam ? largest : largest + Math.trunc((2 * totalParams) / totalGpus);
    cpu = opts.zeroInit
      ? totalParams * k * gpusFactor * f
      : totalParams * Math.max(4 * hw.gpusPerNode, k * gpusFactor) * f;
  } else {
    gpu = largest + Math.trunc((18 * totalParams) / totalGpus);
    cpu = opts.zeroInit ? largestLayerParams * 4 * hw.gpusPerNode * f : totalParams * 4 * hw.gpusPerNode * f;
  }
  const dev = (on: boolean) => (on ? 'cpu ' : 'none');
  return {
    cpuBytes: Math.trunc(cpu),
    gpuBytes: Math.trunc(gpu),
    options: `offload_param=${dev(opts.offloadParam)}, offload_optimizer=${dev(opts.offloadOptimizer)}, zero_init=${opts.zeroInit ? 1 : 0}`,
  };
}

/** DeepSpeed's rows, in its order: zero2 with and without offload. */
export function zero2Rows(totalParams: number, hw: DsHardware): DsEstimate[] {
  return [true, false].map((off) => estimateZero2(totalParams, hw, off));
}

/** DeepSpeed's rows, in its order (offload_param only together with offload_optimizer). */
export function zero3Rows(totalParams: number, largestLayerParams: number, hw: DsHardware): DsEstimate[] {
  const rows: DsEstimate[] = [];
  for (const offloadOptimizer of [true, false]) {
    for (const offloadParam of [true, false]) {
      if (!offloadOptimizer && offloadParam) continue;
      for (const zeroInit of [true, false])
        rows.push(estimateZero3(totalParams, largestLayerParams, hw, { offloadOptimizer, offloadParam, zeroInit }));
    }
  }
  return rows;
}

/**
 * "all_live": the counts from a model. Shared (tied) parameters count once in the total; the largest layer is the
 * module whose own (non-recursive) parameters are the most elements.
 */
export function allLiveCounts(
  modules: readonly { readonly params: readonly { readonly id: unknown; readonly numel: number }[] }[],
): { totalParams: number; largestLayerParams: number } {
  const seen = new Map<unknown, number>();
  let largest = 0;
  for (const m of modules) {
    let layer = 0;
    for (const p of m.params) {
      seen.set(p.id, p.numel);
      layer += p.numel;
    }
    largest = Math.max(largest, layer);
  }
  let total = 0;
  for (const n of seen.values()) total += n;
  return { totalParams: total, largestLayerParams: largest };
}

/** DeepSpeed's printed table: header lines and one row per option set. */
export function formatDsTable(
  title: string,
  totalParams: number,
  hw: DsHardware,
  rows: readonly DsEstimate[],
  largestLayerParams?: number,
): string {
  const gib = (b: number, w: number) => (b / 2 ** 30).toFixed(2).padStart(w);
  const lines = [
    `${title}`,
    'Estimated memory needed for params, optim states and gradients for a:',
    `HW: Setup with ${hw.nodes} ${hw.nodes > 1 ? 'nodes' : 'node'}, ${hw.gpusPerNode} ${hw.gpusPerNode > 1 ? 'GPUs' : 'GPU'} per node.`,
    `SW: Model with ${Math.trunc(totalParams / 1e6)}M total params` +
      (largestLayerParams === undefined ? '.' : `, ${Math.trunc(largestLayerParams / 1e6)}M largest layer params.`),
    '  per CPU  |  per GPU |   Options',
    ...rows.map((r) => ` ${gib(r.cpuBytes, 7)}GB | ${gib(r.gpuBytes, 6)}GB | ${r.options}`),
  ];
  return lines.join('\n');
}
