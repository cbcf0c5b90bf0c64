// `zerots bench capacity`: on 2 thread ranks with a fixed device capacity per rank (and a host capacity per rank for
// the offloaded methods), the largest GPT that trains 3 steps at micro-batch 1 under DDP, ZeRO-1, ZeRO-2, ZeRO-3,
// ZeRO-3 + cpu offload and ZeRO-3 + nvme offload, found with real out-of-memory errors by bisection over one ladder
// of shapes that grows depth first, then width ([Note: the capacity ladder] in src/train/capacity.ts). The reference
// is DDP, measured in the same run: each method's largest model is printed as a ratio to DDP's. Ends with the line
// {"bench":"capacity","device_bytes":..,"host_bytes":..,"max_params":{"ddp":..,"zero1":..,"zero2":..,"zero3":..,
//  "zero3_cpu":..,"zero3_nvme":..}, ...}; the goal is each strictly larger than the one before.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import {
  CAPACITY_METHODS,
  type CapacityBase,
  type CapacityKey,
  type CapacityResult,
  type CapacityTrial,
  type LadderOptions,
  searchCapacity,
  type Shape,
  shapeLadder,
} from '../train/capacity.js';

export interface BenchCapacityOptions {
  deviceMib?: number;
  hostMib?: number;
  /** Where the nvme method's swap files go (default: a fresh folder in the OS temp directory, removed after). */
  nvmePath?: string;
  /** Overrides (tests use a tiny ladder and capacity). */
  ladder?: Partial<LadderOptions>;
  base?: Partial<CapacityBase>;
  methods?: CapacityKey[];
  print?: (line: string) => void;
  /** A line per trial on stderr (default true). */
  progress?: boolean;
}

/**
 * 24 MiB of device per rank (3 of them the kernels' scratch and the comm staging): DDP's 16 bytes per parameter
 * plus its fp32 gradient workspace stop it near 1M parameters, and stages 1-3 land ~10% apart in the depth part of
 * the ladder; 40 MiB of host per rank holds ZeRO-3 + cpu offload's 12 bytes of optimizer state (and the 16-bit
 * parameter and gradient shards) per local parameter for about 4M parameters, while nvme keeps only
 * buffer_count sub-groups of the optimizer state in host memory and goes further.
 */
export const CAPACITY_DEFAULTS = { deviceMib: 24, hostMib: 40 };

// [Note: persistence 0 in bench capacity] stage3_param_persistence_threshold is 0 here: no parameter stays gathered
// between uses. With the experiments' 1024, the small parameters (LayerNorms, biases) are gathered once during the
// first forward and kept, so their buffers land among that forward's activations; after backward they split the
// free space and the step's contiguous fp32 gradient workspace (4 bytes per own element, bf16) no longer fits: at
// 24 MiB, ZeRO-3 then stopped at 38 layers x 64 with 5.9 MiB free in blocks of at most 3.7 MiB, below ZeRO-2's 39
// (measured while writing this); with 0 it reaches 43. The engine could allocate the persistent parameters at
// initialisation, as DeepSpeed does; until then the benchmark measures the stage, not that placement.

export const CAPACITY_LADDER: LadderOptions = {
  width: 64,
  maxDepth: 64,
  widthStep: 8,
  maxWidth: 256,
  heads: 4,
  context: 32,
  vocab: 256,
};

const shapeName = (s: Shape) => `${s.nLayer} x ${s.nEmbd}`;
const mib = (b: number | null | undefined) => (b === null || b === undefined ? '-' : (b / 2 ** 20).toFixed(2));

export async function benchCapacity(o: BenchCapacityOptions = {}): Promise<Record<string, unknown>> {
  const print = o.print ?? ((l: string) => console.log(l));
  const progress = o.progress ?? true;
  const deviceMib = o.deviceMib ?? CAPACITY_DEFAULTS.deviceMib;
  const hostMib = o.hostMib ?? CAPACITY_DEFAULTS.hostMib;
  const lad = { ...CAPACITY_LADDER, ...o.ladder };
  const ladder = shapeLadder(lad);
  const methods = CAPACITY_METHODS.filter((m) => o.methods === undefined || o.methods.includes(m.key));
  if (methods.length === 0) throw new ConfigError('bench capacity: no method selected', 'methods');
  const tmp = o.nvmePath === undefined ? mkdtempSync(join(tmpdir(), 'zerots-capacity-')) : null;
  const base: CapacityBase = {
    deviceBytes: deviceMib * 2 ** 20,
    hostBytes: hostMib * 2 ** 20,
    nvmePath: o.nvmePath ?? tmp!,
    worldSize: 2,
    seed: 1337,
    kernels: 'wasm',
    steps: 3,
    bucketElements: 1 << 18,
    subGroupElements: 1 << 16,
    precision: 'bf16',
    // see [Note: persistence 0 in bench capacity]
    persistence: 0,
    ...o.base,
  };
  const top = ladder[ladder.length - 1]!;
  print(
    `bench capacity: ${base.worldSize} thread ranks, ${mib(base.deviceBytes)} MiB device and ${mib(base.hostBytes)} MiB ` +
      `host (offload) per rank; the largest GPT that trains ${base.steps} steps at micro-batch 1 (bf16, context ` +
      `${lad.context}, ${lad.heads} heads), by bisection with real out-of-memory errors over ${ladder.length} shapes: ` +
      `depth 1..${lad.maxDepth} at width ${lad.width}, then width ${lad.width + lad.widthStep}..${top.nEmbd} ` +
      `(step ${lad.widthStep}) at depth ${lad.maxDepth}.`,
  );
  const t0 = performance.now();
  const results: CapacityResult[] = [];
  try {
    for (const m of methods) {
      const onTrial = (t: CapacityTrial) => {
        if (!progress) return;
        const what = t.ok ? `trained, device peak ${mib(t.devicePeak)} MiB` : `out of ${t.limit} memory`;
        process.stderr.write(
          `  ${m.label}: ${shapeName(t.shape)} (${t.params} params) ${what} (${t.seconds.toFixed(1)} s)\n`,
        );
      };
      results.push(await searchCapacity(base, m, ladder, onTrial));
    }
  } finally {
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  const ddp = results.find((r) => r.method.key === 'ddp')?.best?.params ?? null;
  print('');
  print(
    '| method | largest shape (layers x d) | params | x DDP | device peak MiB/rank | next shape: out of | trials |',
  );
  print('|---|---|---|---|---|---|---|');
  for (const r of results) {
    const b = r.best;
    const next =
      r.firstOom === null
        ? 'none (top of the ladder trained)'
        : `${shapeName(r.firstOom.shape)} (${r.firstOom.params}): ${r.firstOom.limit}`;
    print(
      `| ${r.method.label} | ${b === null ? 'none' : shapeName(b.shape)} | ${b?.params ?? 0} | ` +
        `${ddp === null || b === null ? '-' : (b.params / ddp).toFixed(2)} | ${mib(b?.devicePeak)} | ${next} | ` +
        `${r.trials.length} |`,
    );
  }
  const maxParams = Object.fromEntries(results.map((r) => [r.method.key, r.best?.params ?? 0]));
  const values = results.map((r) => r.best?.params ?? 0);
  const strictly = values.every((v, i) => i === 0 || v > values[i - 1]!);
  const bounded = results.every((r) => r.firstOom !== null);
  print('');
  const order = strictly ? 'each method trains a strictly larger model than the one before' : 'NOT strictly increasing';
  const ends = bounded
    ? 'every largest shape is followed by an out-of-memory one'
    : 'some method trained the top of the ladder (the ladder is too short)';
  print(
    `${order}; ${ends}; ` +
      `${seconds.toFixed(0)} s. Host capacity counts the offloaded state's host arenas (HostMemory), not the JS heap; ` +
      'nvme puts the 16-bit parameter shards in swap files too (offload_param "nvme", max_in_cpu 0: the step streams ' +
      'them through buffer_count windows).',
  );
  const json = {
    bench: 'capacity',
    device_bytes: base.deviceBytes,
    host_bytes: base.hostBytes,
    max_params: maxParams,
    max_shapes: Object.fromEntries(
      results.map((r) => [r.method.key, r.best === null ? null : shapeName(r.best.shape)]),
    ),
    limited_by: Object.fromEntries(results.map((r) => [r.method.key, r.firstOom?.limit ?? null])),
    ratio_to_ddp: Object.fromEntries(
      results.map((r) => [r.method.key, ddp === null ? null : Number(((r.best?.params ?? 0) / ddp).toFixed(3))]),
    ),
    strictly_increasing: strictly,
    world_size: base.worldSize,
    seconds: Number(seconds.toFixed(1)),
  };
  print(JSON.stringify(json));
  return { ...json, results };
}
