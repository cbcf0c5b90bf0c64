// `zerots estimate`: model-state memory per rank and communication per step for every ZeRO stage, from the closed
// forms in src/estimate (the paper's table), DeepSpeed's own estimator tables for comparison, then the peak per rank
// with activations (src/estimate/peak.ts) and the step-time model.
import { ConfigError } from '../errors.js';
import { commBytesPerRank, modelStatesBytes, type Stage, type StatePrecision } from '../estimate/index.js';
import { formatDsTable, zero2Rows, zero3Rows, type DsHardware } from '../estimate/deepspeed.js';
import { printStepEstimate, type StepEstimateOptions, stepEstimateRows } from './estimate-step.js';
import { type PeakShape, peakRows, printPeakRows } from './estimate-peak.js';

export interface EstimateOptions {
  /** Psi: number of parameters (e.g. 7.5e9) */
  params: number;
  /** N: data-parallel ranks */
  worldSize: number;
  /** elements of the largest layer, for DeepSpeed's stage-3 table (omitted: that table is skipped) */
  largestLayerParams?: number;
  /** nodes the ranks are spread over, for DeepSpeed's tables (default 1) */
  nodes?: number;
  /** DeepSpeed's additional_buffer_factor (default 1.5) */
  bufferFactor?: number;
  /** also print a last line of JSON */
  json?: boolean;
  /** where lines go (default console.log) */
  print?: (line: string) => void;
  /** the step-time model's inputs (estimate-step.ts); omitted: no step-time section */
  step?: Omit<StepEstimateOptions, 'params' | 'worldSize'>;
  /** the GPT's shape: the per-rank peak with activations (estimate-peak.ts); omitted: model states only */
  peak?: PeakShape;
}

export interface EstimateRow {
  stage: Stage;
  mixedBytes: number;
  fp32Bytes: number;
  comm16Bytes: number;
  comm32Bytes: number;
}

const PARTITIONS = ['nothing (data parallel)', 'optimizer states', '+ gradients', '+ parameters'];

export function estimate(opts: EstimateOptions): EstimateRow[] {
  const print = opts.print ?? ((l: string) => console.log(l));
  const { params, worldSize } = opts;
  if (!(params > 0) || !Number.isFinite(params))
    throw new ConfigError(`estimate: --params must be a positive number, got ${params}`, 'params');
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new ConfigError(`estimate: --world-size must be a whole number >= 1, got ${worldSize}`, 'worldSize');
  const nodes = opts.nodes ?? 1;
  if (!Number.isInteger(nodes) || nodes < 1 || worldSize % nodes !== 0) {
    throw new ConfigError(
      `estimate: --nodes must be a whole number >= 1 that divides the world size ${worldSize}, got ${nodes}`,
      'nodes',
    );
  }
  const rows: EstimateRow[] = ([0, 1, 2, 3] as const).map((stage) => ({
    stage,
    mixedBytes: modelStatesBytes(params, worldSize, stage, 'mixed').total,
    fp32Bytes: modelStatesBytes(params, worldSize, stage, 'fp32').total,
    comm16Bytes: commBytesPerRank(params, worldSize, stage, 2),
    comm32Bytes: commBytesPerRank(params, worldSize, stage, 4),
  }));
  const gb = (b: number) => `${(b / 1e9).toFixed(b >= 1e11 ? 1 : b >= 1e9 ? 2 : 3)} GB`;
  const formula = (p: StatePrecision, s: Stage) => {
    const [a, g, k] = p === 'mixed' ? [2, 2, 12] : [4, 4, 8];
    return [`(${a}+${g}+${k}) Psi`, `${a + g} Psi + ${k} Psi/N`, `${a} Psi + ${g + k} Psi/N`, `${a + g + k} Psi/N`][s];
  };
  print(
    `ZeRO model states per rank: Psi = ${params.toExponential(2)} parameters, N = ${worldSize} ranks (GB = 1e9 bytes)`,
  );
  const header = ['stage', 'partitioned', 'mixed precision', 'formula', 'fp32', 'comm/rank/step 16-bit', 'fp32 comm'];
  const body = rows.map((r) => [
    String(r.stage),
    PARTITIONS[r.stage],
    gb(r.mixedBytes),
    formula('mixed', r.stage),
    gb(r.fp32Bytes),
    gb(r.comm16Bytes),
    gb(r.comm32Bytes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join(' | ')
      .trimEnd();
  print(line(header));
  print(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const b of body) print(line(b));
  print('comm: 2 Psi (N-1)/N elements per rank for stages 0-2, 3 Psi (N-1)/N for stage 3 (plus a few scalars).');
  const hw: DsHardware = { nodes, gpusPerNode: worldSize / nodes, bufferFactor: opts.bufferFactor };
  print('');
  print(
    formatDsTable(
      "DeepSpeed's estimate_zero2_model_states_mem_needs (buffers and offload included):",
      params,
      hw,
      zero2Rows(params, hw),
    ),
  );
  if (opts.largestLayerParams !== undefined) {
    print('');
    print(
      formatDsTable(
        "DeepSpeed's estimate_zero3_model_states_mem_needs:",
        params,
        hw,
        zero3Rows(params, opts.largestLayerParams, hw),
        opts.largestLayerParams,
      ),
    );
  }
  const peak = opts.peak === undefined ? null : peakRows(opts.peak, worldSize);
  if (opts.peak !== undefined && peak !== null) printPeakRows(opts.peak, worldSize, peak, print);
  // "fits" from the whole peak (activations included; with checkpointing when that is smaller) when the shape is known
  const devicePeak =
    peak === null
      ? undefined
      : (stage: Stage, offload: boolean) =>
          Math.min(...peak.filter((r) => r.stage === stage && r.offload === offload).map((r) => r.device_bytes));
  const stepRows =
    opts.step === undefined ? null : stepEstimateRows({ ...opts.step, params, worldSize: opts.worldSize, devicePeak });
  if (opts.step !== undefined && stepRows !== null)
    printStepEstimate({ ...opts.step, params, worldSize: opts.worldSize }, stepRows, print);
  if (opts.json) {
    print(
      JSON.stringify({
        estimate: 'zero',
        params,
        world_size: worldSize,
        rows: rows.map((r) => ({
          stage: r.stage,
          mixed_bytes: r.mixedBytes,
          fp32_bytes: r.fp32Bytes,
          comm16_bytes: r.comm16Bytes,
          comm32_bytes: r.comm32Bytes,
        })),
        ...(peak === null ? {} : { model: opts.peak, peak }),
        ...(stepRows === null ? {} : { step_time: stepRows }),
      }),
    );
  }
  return rows;
}
