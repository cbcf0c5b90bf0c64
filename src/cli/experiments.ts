// `zerots experiments` (what `npm start` runs): the classic experiment (Hugging Face, "Accelerate Large Model
// Training using DeepSpeed") on the embedded default, 2 thread ranks on the shipped corpus, a per-rank device
// capacity small enough that model states decide what fits. Runs src/train/experiments.ts, prints the tables and
// the seed's published figures beside ours, writes experiments/report.md and experiments/report.html, and ends with
// one JSON line.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import {
  type ExperimentEvent,
  type ExperimentOptions,
  type ExperimentResult,
  runExperiments,
} from '../train/experiments.js';
import { experimentsJson, experimentTables, SEED_TABLE } from '../report/tables.js';
import { experimentCharts } from '../report/charts-data.js';
import { renderSvg } from '../report/charts.js';
import { reportHtml } from '../report/html.js';
import { reportMarkdown } from '../report/markdown.js';
import { startProgress } from './experiments-progress.js';

/**
 * Part 1: GPT 8 layers x d 192 (3.6M parameters), context 64, bf16, 2 ranks of 80 MiB each: DDP keeps 16 bytes per
 * parameter (57 MiB) and fits a small micro-batch; each stage frees more for activations. Part 2: 16 layers (7.2M
 * parameters, 115 MiB of DDP model states) at the same capacity.
 */
export const EXPERIMENT: ExperimentOptions = {
  base: {
    model: { vocabSize: 256, blockSize: 64, nLayer: 8, nHead: 4, nEmbd: 192 },
    seed: 1337,
    precision: 'bf16',
    lr: 1.5e-3,
    clip: 1.0,
    bucketElements: 1 << 18,
    // one transformer block per all-gather (12 d^2 + 13 d elements), as the demo
    stage3Prefetch: 12 * 192 * 192 + 13 * 192,
    stage3Persistence: 1024,
    kernels: 'wasm',
    deviceBytes: 80 << 20,
    worldSize: 2,
  },
  part2Model: { vocabSize: 256, blockSize: 64, nLayer: 16, nHead: 4, nEmbd: 192 },
  tokens: 16_384,
  evalSequences: 32,
  equalSteps: 6,
  // the last measured largest micro-batches (each search confirms its guess: it trains, guess + 1 does not)
  guesses: { ddp: 2, zero1: 5, zero2: 5, zero3: 5, zero3_offload: 8, part2: 4 },
};

/** --quick: the same model and capacity (the same largest micro-batches), fewer tokens. */
export const QUICK: Partial<ExperimentOptions> = { tokens: 4096, evalSequences: 8, equalSteps: 3 };

export interface ExperimentsCliOptions {
  quick?: boolean;
  json?: boolean;
  /** Folder of report.md and report.html (default experiments/). */
  out?: string;
  /** Overrides (tests use a tiny model). */
  options?: Partial<ExperimentOptions>;
  print?: (line: string) => void;
  /** Progress on stderr (default true). */
  progress?: boolean;
  /** Re-render the report from a result.json an earlier run wrote, without training. */
  from?: string;
}

export async function experiments(o: ExperimentsCliOptions = {}): Promise<ExperimentResult> {
  // --json: the JSON line alone on stdout
  const print = o.json ? () => {} : (o.print ?? ((l: string) => console.log(l)));
  const opts: ExperimentOptions = { ...EXPERIMENT, ...(o.quick ? QUICK : {}), ...o.options };
  if (!(opts.tokens >= 1)) throw new ConfigError(`experiments: tokens must be >= 1, got ${opts.tokens}`, 'tokens');
  const t0 = performance.now();
  const m = opts.base.model;
  print(
    `ZeRO experiments: GPT ${m.nLayer} layers x d ${m.nEmbd} (${m.nHead} heads, context ${m.blockSize}, byte vocabulary) ` +
      `on the shipped corpus, ${opts.base.worldSize} thread ranks of ${opts.base.deviceBytes / 2 ** 20} MiB each, ` +
      `${opts.base.precision}, seed ${opts.base.seed}${o.quick ? ' (--quick)' : ''}.`,
  );
  let result: ExperimentResult;
  let seconds: number;
  if (o.from !== undefined) {
    const saved = JSON.parse(readFileSync(o.from, 'utf8')) as { result: ExperimentResult; seconds: number };
    result = saved.result;
    seconds = saved.seconds;
  } else {
    const bar = o.progress === false ? null : startProgress();
    const onEvent = (e: ExperimentEvent) => bar?.event(e);
    try {
      result = await runExperiments({ ...opts, onEvent });
    } finally {
      bar?.stop();
    }
    seconds = (performance.now() - t0) / 1000;
  }
  for (const line of experimentTables(result, opts)) print(line);
  print('');
  for (const line of SEED_TABLE) print(line);
  const dir = resolve(o.out ?? 'experiments');
  const md = resolve(dir, 'report.md');
  const html = resolve(dir, 'report.html');
  mkdirSync(dirname(md), { recursive: true });
  const charts = experimentCharts(result);
  const svgs = await Promise.all(charts.map((c) => renderSvg(c.spec)));
  charts.forEach((c, i) => writeFileSync(resolve(dir, `${c.name}.svg`), svgs[i]!));
  writeFileSync(md, reportMarkdown(result, opts, seconds, charts));
  // the data behind the report (--from re-renders it without training)
  if (o.from === undefined) writeFileSync(resolve(dir, 'result.json'), JSON.stringify({ result, seconds }));
  writeFileSync(html, await reportHtml(result, opts, seconds, charts, svgs));
  print('');
  print(`Report: ${relative(md)} and ${relative(html)} (${seconds.toFixed(0)} s in all).`);
  (o.json ? (l: string) => console.log(l) : print)(JSON.stringify(experimentsJson(result, relative(html))));
  return result;
}

function relative(p: string): string {
  const cwd = process.cwd();
  return p.startsWith(`${cwd}/`) ? p.slice(cwd.length + 1) : p;
}
