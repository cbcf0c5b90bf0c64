// Text tables of the stage summaries: the demo's (loss, speed, memory by category, model states against the
// formula, communication) and the benchmark's (speed ratios and where the time goes), plus the benchmark's JSON.
import { ConfigError } from '../errors.js';
import type { RunReport } from '../train/report.js';

const MiB = 2 ** 20;

/** Right-aligned columns under a header row and a rule. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(width[i]!)).join('  ');
  return [line(header), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function mib(bytes: number, digits = 2): string {
  return Number.isFinite(bytes) ? (bytes / MiB).toFixed(digits) : '-';
}

function ms(seconds: number): string {
  return (seconds * 1000).toFixed(1);
}

/** The demo's table: one row per stage. Memory in MiB per rank (the largest rank). */
export function demoTable(s: readonly RunReport[]): string {
  const header = [
    'stage',
    'loss',
    'val loss',
    'tok/s',
    'param',
    'grad',
    'optim',
    'activ',
    'comm',
    'peak',
    'states',
    'formula',
    'comm MiB/step',
  ];
  const rows = s.map((x) => [
    String(x.stage),
    x.finalLoss.toFixed(4),
    x.valLoss === null ? '-' : x.valLoss.toFixed(4),
    Number.isFinite(x.tokensPerSecond) ? x.tokensPerSecond.toFixed(0) : '-',
    mib(x.peak.param),
    mib(x.peak.grad),
    mib(x.peak.optimizer),
    mib(x.peak.activation),
    mib(x.peak.comm),
    mib(x.peakTotal),
    mib(x.modelStates.total),
    mib(x.formula.total),
    mib(x.commBytesPerStep, 3),
  ]);
  return formatTable(header, rows);
}

export const DEMO_LEGEND = [
  'param, grad, optim, activ, comm, peak: steady-state peak device MiB per rank by category and in total (largest rank,',
  "  measured on the second step; kernel workspace and the transport's 1 MiB staging area excluded; comm is ~0:",
  '  the collectives work in place on the parameter and gradient buffers).',
  "states: parameters + gradients + optimizer state per rank right after initialize(); formula: the ZeRO paper's",
  '  model-state bytes per rank (src/estimate) for the same Psi and world size.',
  "loss: the last step's training loss (mean over ranks); val loss: held-out text after training; tok/s: global tokens",
  '  per step / median step time (stages run interleaved step by step).',
].join('\n');

/** The benchmark's table: speed against stage 0, time per phase, memory, communication. */
export function benchTable(s: readonly RunReport[]): string {
  const s0 = s.find((x) => x.stage === 0);
  const header = [
    'stage',
    'tok/s',
    'x stage 0',
    'best x',
    'ms/step',
    'fwd',
    'bwd',
    'step',
    'allreduce',
    'red-scat',
    'allgather',
    'calls',
    'param',
    'grad',
    'optim',
    'activ',
    'comm',
    'peak MiB',
    '1st step',
    'comm MiB/step',
  ];
  const rows = s.map((x) => [
    String(x.stage),
    x.tokensPerSecond.toFixed(0),
    x.ratioToStage0.toFixed(3),
    s0 ? (x.bestTokensPerSecond / s0.bestTokensPerSecond).toFixed(3) : '-',
    ms(x.secondsPerStep),
    ms(x.phases.forward),
    ms(x.phases.backward),
    ms(x.phases.step),
    ms(x.phases.comm.all_reduce),
    ms(x.phases.comm.reduce_scatter),
    ms(x.phases.comm.all_gather),
    x.commCallsPerStep.toFixed(0),
    mib(x.peak.param),
    mib(x.peak.grad),
    mib(x.peak.optimizer),
    mib(x.peak.activation),
    mib(x.peak.comm),
    mib(x.peakTotal),
    mib(x.firstStepPeakTotal),
    mib(x.commBytesPerStep, 3),
  ]);
  return formatTable(header, rows);
}

export const BENCH_LEGEND = [
  "tok/s: global tokens per step / rank 0's median timed step (stages interleaved step by step, so machine load hits",
  "  all alike); x stage 0 (the JSON's ratio): median over rounds of stage 0's step time / this stage's in the same",
  "  round (a paired comparison under the same load); best x: the ratio of the two stages' fastest steps.",
  'fwd, bwd, step: mean ms per step on rank 0 in engine.forward / backward / step; allreduce, red-scat, allgather: ms',
  '  per step inside those collectives, waiting for the other rank included (within bwd and step, and within fwd for',
  '  stage 3); calls: collectives per step, each a point where the ranks wait for each other.',
  'param..peak MiB: steady-state peak device MiB per rank by category and in total (largest rank, kernel workspace',
  '  excluded); 1st step: the total peak of the first step (stage 3 records its gather order there).',
].join('\n');

export interface BenchZeroRecord {
  bench: 'zero';
  world_size: number;
  stage0_tokens_per_s: number;
  stage1_ratio: number;
  stage2_ratio: number;
  stage3_ratio: number;
  peak_bytes: { '0': number; '1': number; '2': number; '3': number };
}

/** The benchmark's last line (needs stages 0..3). */
export function benchRecord(s: readonly RunReport[]): BenchZeroRecord {
  const by = (k: number) => {
    const x = s.find((y) => y.stage === k);
    if (x === undefined)
      throw new ConfigError(`bench zero: no result for stage ${k}; run stages 0, 1, 2 and 3`, 'stages');
    return x;
  };
  const t0 = by(0).tokensPerSecond;
  const ratio = (k: number) => Number(by(k).ratioToStage0.toFixed(4));
  return {
    bench: 'zero',
    world_size: by(0).worldSize,
    stage0_tokens_per_s: Math.round(t0),
    stage1_ratio: ratio(1),
    stage2_ratio: ratio(2),
    stage3_ratio: ratio(3),
    peak_bytes: { '0': by(0).peakTotal, '1': by(1).peakTotal, '2': by(2).peakTotal, '3': by(3).peakTotal },
  };
}
