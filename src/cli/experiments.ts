// `zerots experiments` (what `npm start` runs): the classic experiment (Hugging Face, "Accelerate Large Model
// Training using DeepSpeed") on the embedded default, 2 thread ranks on the shipped corpus, a per-rank device
// capacity small enough that model states decide what fits. Runs src/train/experiments.ts, prints the tables and
// the seed's published figures beside ours, writes experiments/report.md and experiments/report.html, and ends with
// one JSON line.
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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
import { pinnedCapacity } from '../train/experiment-predict.js';
import { engineBackends, engineLine } from '../zero/backends.js';

/**
 * Part 1: GPT 16 layers x d 96 (1.8M parameters), context 128, bf16, 2 ranks of about 44 MiB each (the capacity is
 * pinned, [Note: a pinned capacity] in src/train/experiment-predict.ts): DDP keeps 16 bytes per parameter and fits
 * micro-batch 1; each stage frees more for activations. Part 2: 20 layers at the same capacity: DDP does not fit
 * micro-batch 1, ZeRO-3 + offload trains.
 */
const D = 96;
export const EXPERIMENT: ExperimentOptions = {
  base: {
    model: { vocabSize: 256, blockSize: 128, nLayer: 16, nHead: 4, nEmbd: D },
    seed: 1337,
    precision: 'bf16',
    lr: 1.5e-3,
    clip: 1.0,
    bucketElements: 1 << 18,
    // one transformer block per all-gather (12 d^2 + 13 d elements), as the demo
    stage3Prefetch: 12 * D * D + 13 * D,
    stage3Persistence: 1024,
    kernels: 'wasm',
    deviceBytes: 44 << 20,
    worldSize: 2,
  },
  part2Model: { vocabSize: 256, blockSize: 128, nLayer: 20, nHead: 4, nEmbd: D },
  tokens: 8192,
  evalSequences: 32,
  equalSteps: 6,
  // the run at the prediction is the trial that trains; one trial above it must run out of memory
  quickSearch: true,
  // used only when a prediction is 0 (each search starts at the estimator's largest micro-batch)
  guesses: { part2: 4 },
};

/**
 * --quick: the same model and capacity (the same largest micro-batches), fewer tokens, no NVMe row and no
 * equal-batch run.
 */
export const QUICK: Partial<ExperimentOptions> = { tokens: 1024, evalSequences: 2, equalSteps: 0 };

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
  /**
   * Use the base capacity as given instead of the pinned capacity nearest it ([Note: a pinned capacity]); tests
   * with a tiny model set it.
   */
  exactCapacity?: boolean;
  /** A folder for the NVMe row's swap files: 'auto' (default: a fresh folder under the system's temp), or null. */
  nvme?: string | null;
}

export async function experiments(o: ExperimentsCliOptions = {}): Promise<ExperimentResult> {
  // --json: the JSON line alone on stdout
  const print = o.json ? () => {} : (o.print ?? ((l: string) => console.log(l)));
  const given: ExperimentOptions = { ...EXPERIMENT, ...(o.quick ? QUICK : {}), ...o.options };
  if (!(given.tokens >= 1)) throw new ConfigError(`experiments: tokens must be >= 1, got ${given.tokens}`, 'tokens');
  const t0 = performance.now();
  const pinned = o.exactCapacity || o.from !== undefined ? null : pinnedCapacity(given.base, given.part2Model);
  const nvme = o.from !== undefined ? { path: null, note: null } : nvmeFolder(o.quick ? null : (o.nvme ?? 'auto'));
  const opts: ExperimentOptions = {
    ...given,
    base: { ...given.base, deviceBytes: pinned ?? given.base.deviceBytes, nvmePath: nvme.path },
  };
  const m = opts.base.model;
  print(
    `ZeRO experiments: GPT ${m.nLayer} layers x d ${m.nEmbd} (${m.nHead} heads, context ${m.blockSize}, byte vocabulary) ` +
      `on the shipped corpus, ${opts.base.worldSize} thread ranks of ${opts.base.deviceBytes / 2 ** 20} MiB each, ` +
      `${opts.base.precision}, seed ${opts.base.seed}${o.quick ? ' (--quick)' : ''}.`,
  );
  if (pinned !== null && pinned !== given.base.deviceBytes)
    print(
      `Capacity ${pinned / 2 ** 20} MiB instead of ${given.base.deviceBytes / 2 ** 20}: the nearest where every predicted ` +
        'largest micro-batch holds whatever the allocator fragments ([Note: a pinned capacity]).',
    );
  else if (pinned === null && !o.exactCapacity && o.from === undefined)
    print(
      'No capacity near the given one pins every prediction ([Note: a pinned capacity]); predictions may be off by one.',
    );
  if (nvme.note !== null) print(nvme.note);
  // the experiment's kernels are fixed (the memory it compares is the same with or without OpenBLAS), so the line
  // says which run, and why no native BLAS is loaded when it is absent
  print(engineLine(engineBackends(opts.base.kernels, 'threads')));
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
      if (nvme.path !== null && nvme.owned === true) rmSync(nvme.path, { recursive: true, force: true });
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

/** The NVMe row's swap folder: a fresh one under the system's temp ('auto'), the given one, or none (and why). */
export function nvmeFolder(want: string | null): { path: string | null; note: string | null; owned?: boolean } {
  if (want === null) return { path: null, note: null };
  try {
    const dir = want === 'auto' ? mkdtempSync(join(tmpdir(), 'zerots-nvme-')) : resolve(want);
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const owned = want === 'auto';
    return { path: dir, owned, note: `ZeRO-3 + NVMe: swap files under ${dir}${owned ? ' (removed at the end)' : ''}.` };
  } catch (e) {
    return { path: null, note: `ZeRO-3 + NVMe skipped: no writable folder for swap files (${(e as Error).message}).` };
  }
}

function relative(p: string): string {
  const cwd = process.cwd();
  return p.startsWith(`${cwd}/`) ? p.slice(cwd.length + 1) : p;
}
