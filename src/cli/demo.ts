// `npm start` / `zerots demo`: ZeRO working, in one table. Two thread ranks train GPT on the shipped corpus; each
// stage 0, 1, 2, 3 trains the same steps from the same seed on the same data, so the losses agree, while the memory
// per rank falls stage by stage: stage 1 partitions the optimizer state, stage 2 also the gradients, stage 3 also
// the parameters. Beside the measured model states stands the ZeRO paper's formula (src/estimate).
import { ConfigError } from '../errors.js';
import { engineLine, plannedBackends } from '../zero/backends.js';
import { blasThreadsFor } from '../launch/native-env.js';
import type { RunReport } from '../train/report.js';
import { type StageRunOptions, stagesSpec } from '../train/stages.js';
import { trainWorld } from '../train/world.js';
import { DEMO_LEGEND, demoTable, mib } from './tables.js';

export interface DemoOptions {
  /** Optimizer steps per stage (default DEMO_SPEC.steps). */
  steps?: number;
  /** Thread ranks (default 2). */
  worldSize?: number;
  /** Overrides of the run (tests use a tiny model). */
  spec?: Partial<StageRunOptions>;
  /** Printer for the report (default console.log); progress goes to stderr unless spec.progressEvery is 0. */
  print?: (line: string) => void;
}

/**
 * 4 layers, d 128, 4 heads, context 64 (0.83M parameters), 8 sequences per rank per step, bf16 mixed precision
 * (the paper's 2 + 2 + 12 bytes per parameter), gradient clipping at 1.0 (GPT-2 practice; the stages still agree
 * bit for bit, see [Note: exact norm exchange] in src/zero/norm-exchange.ts); under a minute for all four stages on 2
 * idle cores, about 2 on a loaded machine.
 */
export const DEMO_SPEC: StageRunOptions = {
  model: { vocabSize: 256, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 },
  seed: 1337,
  microBatch: 8,
  steps: 50,
  untimedSteps: 2,
  stages: [0, 1, 2, 3],
  precision: 'bf16',
  lr: 1.5e-3,
  clip: 1.0,
  // a quarter of the model per bucket: stage 2 frees the gradients it does not own bucket by bucket
  bucketElements: 1 << 18,
  // one transformer block (12 d^2 + 13 d elements): stage 3 gathers a block with one all-gather
  stage3Prefetch: 12 * 128 * 128 + 13 * 128,
  stage3Persistence: 1024,
  evalBatches: 4,
  kernels: 'auto',
  deviceBytes: 512 << 20,
  progressEvery: 10,
};

/** Prints the demo and returns one report per stage. */
export async function demo(opts: DemoOptions = {}): Promise<RunReport[]> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const N = opts.worldSize ?? 2;
  if (!Number.isInteger(N) || N < 1)
    throw new ConfigError(`demo: world size must be an integer >= 1, got ${N}`, 'worldSize');
  const spec: StageRunOptions = {
    ...DEMO_SPEC,
    ...opts.spec,
    ...(opts.steps === undefined ? {} : { steps: opts.steps }),
  };
  if (!Number.isInteger(spec.steps) || spec.steps < 1)
    throw new ConfigError(`demo: steps must be an integer >= 1, got ${spec.steps}`, 'steps');
  const m = spec.model;
  print(
    `ZeRO demo: GPT (${m.nLayer} layers, d ${m.nEmbd}, ${m.nHead} heads, context ${m.blockSize}, byte vocabulary) on the shipped corpus, ` +
      `${N} thread ranks x ${spec.microBatch} sequences per step, ${spec.precision}, ${spec.steps} AdamW steps per ` +
      `stage, seed ${spec.seed}.`,
  );
  print(`Every stage trains the same model on the same data; ZeRO changes only what each rank keeps in memory.`);
  print(engineLine(plannedBackends(spec.kernels, 'threads', blasThreadsFor(N)))); // [native blas] or why not BLAS
  if (spec.progressEvery > 0)
    process.stderr.write(`training stages ${spec.stages.join(', ')} (interleaved step by step) ...\n`);
  const summaries = await trainWorld(stagesSpec(spec), N, 900_000);
  const ref = summaries.find((s) => s.stage === 0) ?? summaries[0]!;
  const maxLossDifference = Math.max(
    0,
    ...summaries.flatMap((s) => s.losses.map((l, i) => Math.abs(l - ref.losses[i]!))),
  );
  const table = demoTable(summaries);
  print(
    `${(ref.params / 1e6).toFixed(2)}M parameters (Psi); memory in MiB per rank; initial loss ` +
      `${ref.losses[0]!.toFixed(4)} (ln 256 = ${Math.log(256).toFixed(4)}).`,
  );
  print('');
  print(table);
  print('');
  print(DEMO_LEGEND);
  print('');
  const first = summaries[0]!;
  const last = summaries[summaries.length - 1]!;
  print(
    `Same training: the largest difference of any stage's loss from stage ${ref.stage}'s, over all ${spec.steps} steps, is ` +
      `${maxLossDifference === 0 ? '0 (identical bits)' : maxLossDifference.toExponential(2)}.`,
  );
  print(
    `Less memory: model states per rank fall from ${mib(first.modelStates.total)} MiB (stage ${first.stage}) to ` +
      `${mib(last.modelStates.total)} MiB ` +
      `(stage ${last.stage}); the formula says ${mib(first.formula.total)} -> ${mib(last.formula.total)} MiB ` +
      `(measured and formula differ only by the padding of each bucket to a multiple of ${N}).`,
  );
  if (Number.isFinite(ref.commBytesPerStep))
    print(
      `Communication per step: ${mib(ref.commBytesPerStep, 3)} MiB per rank in stages 0-2 (2 Psi (N-1)/N), ` +
        `${mib(summaries.find((s) => s.stage === 3)?.commBytesPerStep ?? NaN, 3)} MiB in stage 3 (about 3 Psi ` +
        `(N-1)/N: it gathers the parameters in forward and again in backward).`,
    );
  return summaries;
}
