#!/usr/bin/env node
// The `zerots` command: train | launch | estimate | consolidate | bench | demo. Each subcommand lives in its own module under
// src/cli/ and is loaded only when called, so `zerots launch` does not pay for the kernels' compile.
import { Command, InvalidArgumentError } from 'commander';
import { ZeroTsError } from '../errors.js';
import { addLaunchCommand } from './launch.js';
import { addNativeOptions } from './native-options.js'; // [native blas]

function int(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got '${value}'`);
    }
    return n;
  };
}

function positive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0) || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a positive number, got '${value}'`);
    return n;
  };
}

function list(value: string): number[] {
  return value.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected positive integers, got '${s}'`);
    return n;
  });
}

function transport(value: string): 'threads' | 'tcp' {
  if (value !== 'threads' && value !== 'tcp') {
    throw new InvalidArgumentError(`transport must be 'threads' or 'tcp', got '${value}'`);
  }
  return value;
}

function trainTransport(value: string): 'threads' | 'tcp' | 'mpi' {
  return value === 'mpi' ? value : transport(value); // [native mpi] mpi: under mpirun, or starts it
}

/** Loads a subcommand module by its file name (relative to this file). */
async function load<T>(file: string): Promise<T> {
  return (await import(new URL(file, import.meta.url).href)) as T;
}

const program = new Command('zerots')
  .description('ZeRO data-parallel training for TypeScript on Node.js')
  .showHelpAfterError('(zerots <command> --help shows the options)')
  .enablePositionalOptions();

const bench = program
  .command('bench')
  .description('benchmarks: each prints a ratio against a reference measured in the same run');
bench
  .command('gemm')
  .description('GEMM GFLOP/s at n = 256..2048 against OpenBLAS through numpy')
  .option('--sizes <list>', 'comma-separated n values', list)
  .option('--threads <n>', '1 or 2', int('--threads', 1, 2))
  .action(async (o) => (await load<{ benchGemm(o: unknown): Promise<void> }>('./bench-gemm.js')).benchGemm(o));
bench
  .command('train')
  .description('GPT training tokens/s on one rank against PyTorch CPU')
  .option('--steps <n>', 'timed steps per side', int('--steps', 1, 1000))
  .option('--threads <list>', 'thread counts to try for each side (1, 2 or 1,2)', list)
  .option('--no-torch', 'skip the PyTorch reference')
  .option('--torch-blas-dir <dir>', 'a folder with an OpenBLAS libblas.so.3 for the PyTorch child')
  .option('--attention-reference', 'also time the attention kernel that saved T x T probabilities (fused / saved)')
  .action(
    async (o: {
      steps?: number;
      threads?: number[];
      torch: boolean;
      torchBlasDir?: string;
      attentionReference?: boolean;
    }) => {
      const m = await load<{ benchTrain(o: unknown): Promise<unknown> }>('./bench-train.js');
      await m.benchTrain({
        steps: o.steps,
        threads: o.threads,
        noTorch: !o.torch,
        torchBlasDir: o.torchBlasDir,
        attentionReference: o.attentionReference === true,
      });
    },
  );
bench
  .command('memory')
  .description('predicted peak memory per rank against the measured one (issue 9), largest micro-batch by OOM')
  .option('--capacity-mib <n>', 'capacity per rank for the largest micro-batch search', int('--capacity-mib', 8, 4096))
  .option('--no-search', 'skip the out-of-memory search')
  .action(async (o: { capacityMib?: number; search: boolean }) => {
    const m = await load<{ benchMemory(o: unknown): Promise<unknown> }>('./bench-memory.js');
    await m.benchMemory({ capacityMiB: o.capacityMib, noSearch: !o.search });
  });
bench
  .command('comm')
  .description('collective bandwidth and latency against memcpy')
  .option('--transport <t>', 'threads | tcp | mpi', (v: string) => (v === 'mpi' ? v : transport(v)), 'threads')
  .option('--world-size <n>', 'ranks', int('--world-size', 1, 64), 2)
  .action(async (o) =>
    o.transport === 'mpi' // [native mpi] under (or starting) mpirun, against Open MPI from C
      ? (await load<{ benchCommMpi(o: unknown): Promise<void> }>('./bench-comm-mpi.js')).benchCommMpi(o)
      : (await load<{ benchComm(o: unknown): Promise<void> }>('./bench-comm.js')).benchComm(o),
  );
bench
  .command('offload')
  .description(
    'offloaded AdamW params/s on all cores against the memory-bandwidth bound (the fastest copy on the same threads); ' +
      'swap I/O against a file copy',
  )
  .option('--params <n>', 'parameters (default 2^24)', int('--params', 1024, 2 ** 31))
  .option('--threads <n>', 'threads of the host step (default: every core)', int('--threads', 1, 64))
  .option('--repeat <n>', 'timed runs per figure (default 7; the median reported)', int('--repeat', 1, 100))
  .option('--nvme-path <dir>', 'directory for the swap files (default: the OS temp directory)')
  .action(async (o) => {
    await (await load<{ benchOffload(o: unknown): Promise<unknown> }>('./bench-offload.js')).benchOffload(o);
  });
bench
  .command('capacity')
  .description('largest GPT per method (DDP .. ZeRO-3 + nvme) at a fixed device and host capacity, by real OOM')
  .option('--device-mib <n>', 'device capacity per rank, MiB (default 24)', int('--device-mib', 8, 4096))
  .option(
    '--host-mib <n>',
    'host capacity per rank for the offloaded methods, MiB (default 40)',
    int('--host-mib', 8, 1 << 20),
  )
  .option('--nvme-path <dir>', 'directory for the swap files (default: a fresh folder in the OS temp directory)')
  .action(async (o) => {
    await (await load<{ benchCapacity(o: unknown): Promise<unknown> }>('./bench-capacity.js')).benchCapacity(o);
  });
bench
  .command('zero')
  .description('every ZeRO stage on one model: tokens/s, peak memory per rank, comm bytes per step')
  .option('--world-size <n>', 'ranks', int('--world-size', 1, 16), 2)
  .option('--precision <p>', 'fp32 | bf16 (default bf16)', (v: string) => {
    if (v !== 'fp32' && v !== 'bf16') throw new InvalidArgumentError(`--precision must be fp32 or bf16, got '${v}'`);
    return v;
  })
  .option('--steps <n>', 'steps per stage (2 of them untimed warm-up)', int('--steps', 3, 10_000))
  .option('--peer <p>', "'torch': also PyTorch DDP / ZeroRedundancyOptimizer on the same model", (v: string) => {
    if (v !== 'torch') throw new InvalidArgumentError(`--peer must be torch, got '${v}'`);
    return v;
  })
  .option(
    '--rounds <n>',
    'with --peer: rounds of (zerots, PyTorch), the ratios their median (default 2)',
    int('--rounds', 1, 20),
  )
  .action(async (o: { worldSize: number; precision?: string; steps?: number; peer?: string; rounds?: number }) => {
    const m = await load<{ benchZero(o: unknown): Promise<unknown> }>('./bench-zero.js');
    const spec: Record<string, unknown> = {};
    if (o.precision !== undefined) spec.precision = o.precision;
    if (o.steps !== undefined) spec.steps = o.steps;
    await m.benchZero({ worldSize: o.worldSize, spec, peer: o.peer, rounds: o.rounds });
  });
bench
  .command('checkpoint')
  .description('checkpoint save and load GB/s against a plain file copy of the same bytes')
  .option('--params <n>', 'model parameters (default 100e6)', positive('--params'))
  .option('--world-size <n>', 'ranks', int('--world-size', 1, 16), 2)
  .option('--repeats <n>', 'rounds (best of)', int('--repeats', 1, 100), 3)
  .option('--dir <dir>', 'where to write (default: a temporary folder)')
  .action(async (o) => {
    await (await load<{ benchCheckpoint(o: unknown): Promise<unknown> }>('./bench-checkpoint.js')).benchCheckpoint(o);
  });

program
  .command('train')
  .description('train a GPT on your text (or the shipped corpus) through the ZeRO engine on N ranks')
  .option('--config <file>', 'DeepSpeed JSON config; "auto" values are filled from these flags and the model')
  .option('--data <file>', 'training text: plain text, or JSON Lines with a "text" field (.jsonl); .gz is read too')
  .option('--tokenizer <name>', 'byte | gpt2 (GPT-2 BPE, vocabulary 50257)', 'byte')
  .option('--model <name|file>', 'gpt2 | gpt2-medium | gpt2-large | gpt2-xl | tiny | FILE.json (dimensions)')
  .option('--steps <n>', 'optimizer steps', int('--steps', 1, 1_000_000_000))
  .option('--world-size <n>', 'data-parallel ranks', int('--world-size', 1, 64))
  .option(
    '--transport <t>',
    'threads (default) | tcp | mpi (ranks as processes; mpi: under or starting mpirun)',
    trainTransport,
  )
  .option('--micro-batch <n>', 'sequences per rank per micro-step', int('--micro-batch', 1, 1 << 20))
  .option('--lr <x>', 'peak learning rate (fills "auto"; AdamW when the config has no optimizer)', positive('--lr'))
  .option('--seed <n>', 'model initialisation and data order seed', int('--seed', 0, 2 ** 31 - 1))
  .option('--eval-every <n>', 'held-out loss every n steps (and at the end)', int('--eval-every', 1, 1_000_000_000))
  .option('--eval-batches <n>', 'held-out micro-batches per rank', int('--eval-batches', 0, 1 << 20))
  .option('--device-mib <n>', 'device memory per rank, MiB (default 512, at most 4096)', int('--device-mib', 16, 4096))
  .option(
    '--host-mib <n>',
    'host memory per rank for offload, MiB (default: unbounded)',
    int('--host-mib', 16, 1 << 30),
  )
  .option('--log <file>', 'JSON Lines file: one record per step')
  .option('--verbose', 'show the stack of an error')
  .addHelpText(
    'after',
    `
Examples:
  zerots train --steps 50
  zerots train --data corpus.jsonl --tokenizer gpt2 --model tiny --world-size 2 --steps 20
  zerots train --config ds_config.json --world-size 2 --steps 100 --log run.jsonl
  mpirun -np 2 zerots train --steps 100          (MPI transport; or: zerots train --transport mpi --world-size 2)`,
  )
  .option(
    '--save-dir <dir>',
    'save checkpoints here (<dir>/step-N, <dir>/latest); without --save-every once, at the end',
  )
  .option('--save-every <n>', 'a checkpoint every n optimizer steps', int('--save-every', 1, 1_000_000))
  .option('--resume [dir]', 'resume from a checkpoint (default: the latest in --save-dir), at any world size and stage')
  .option('--init-from <file>', 'initialise the weights from a safetensors file or folder (GPT-2 layout)')
  .action(async (o) => {
    const { log, verbose: _v, ...rest } = o as { log?: string; verbose?: boolean } & Record<string, unknown>;
    await (await load<{ trainCommand(o: unknown): Promise<void> }>('./train.js')).trainCommand({
      ...rest,
      logFile: log,
    });
  });

addLaunchCommand(program);

program
  .command('estimate')
  .description(
    'per-rank memory (model states, and the peak with activations), communication per step and a step-time model, every ZeRO stage',
  )
  .option('--params <n>', 'number of parameters (e.g. 7.5e9)', positive('--params'))
  .option('--model <name>', 'gpt2 | gpt2-medium | gpt2-large | gpt2-xl (instead of --params)')
  .option('--layers <n>', 'transformer layers (with --params; stage-3 gathers per layer)', int('--layers', 1, 1 << 20))
  .option('--world-size <n>', 'data-parallel ranks', int('--world-size', 1, 1 << 20), 1)
  .option(
    '--largest-layer <n>',
    "parameters of the largest layer (for DeepSpeed's stage-3 estimator)",
    positive('--largest-layer'),
  )
  .option('--nodes <n>', 'nodes the ranks are spread over', int('--nodes', 1, 1 << 20))
  .option('--buffer-factor <x>', "DeepSpeed's buffer factor (default 1.5)", positive('--buffer-factor'))
  .option('--flops <x>', 'accelerator peak FLOP/s (default 989e12, an H100 bf16)', positive('--flops'))
  .option('--utilization <x>', 'achieved share of peak FLOP/s (default 0.4)', positive('--utilization'))
  .option('--bandwidth <x>', 'per-rank link bytes/s (default 50e9)', positive('--bandwidth'))
  .option('--latency <x>', 'per-hop collective latency, seconds (default 5e-6)', positive('--latency'))
  .option(
    '--tokens-per-rank <n>',
    'tokens per rank per step (default micro-batch x context)',
    positive('--tokens-per-rank'),
  )
  .option(
    '--device-gb <x>',
    'device memory per rank in GB (says which stage fits; default 80)',
    positive('--device-gb'),
  )
  .option(
    '--embd <n>',
    'hidden size (with --layers: the GPT shape, for the peak with activations)',
    int('--embd', 1, 1 << 20),
  )
  .option('--heads <n>', 'attention heads (default hidden size / 64)', int('--heads', 1, 1 << 16))
  .option('--vocab <n>', 'vocabulary (with --embd; default 50257)', int('--vocab', 1, 1 << 24))
  .option('--context <n>', 'sequence length (with --embd; default 1024)', int('--context', 1, 1 << 24))
  .option('--micro <n>', 'micro-batch per rank for the peak with activations (default 1)', int('--micro', 1, 1 << 20))
  .option('--precision <p>', 'bf16 | fp16 | fp32 for the peak with activations (default bf16)')
  .option('--json', 'print the rows as JSON')
  .action(async (o: Record<string, number | string | boolean | undefined>) => {
    const step = await load<typeof import('./estimate-step.js')>('./estimate-step.js');
    const peakCli = await load<typeof import('./estimate-peak.js')>('./estimate-peak.js');
    const m = await load<{ estimate(o: unknown): unknown }>('./estimate.js');
    const named = typeof o.model === 'string' ? step.modelByName(o.model) : null;
    const embd = o.embd as number | undefined;
    const layers = o.layers as number | undefined;
    if (embd !== undefined && layers === undefined) throw new InvalidArgumentError('estimate: --embd needs --layers');
    const dims =
      named ??
      (embd === undefined
        ? null
        : {
            nLayer: layers!,
            nEmbd: embd,
            nHead: (o.heads as number | undefined) ?? Math.max(1, Math.round(embd / 64)),
            vocabSize: (o.vocab as number | undefined) ?? 50257,
            blockSize: (o.context as number | undefined) ?? 1024,
          });
    if (dims !== null && dims.nEmbd % dims.nHead !== 0)
      throw new InvalidArgumentError(`estimate: --heads ${dims.nHead} must divide the hidden size ${dims.nEmbd}`);
    const model = dims;
    const params = (o.params as number | undefined) ?? (model === null ? undefined : step.gptParamCount(model));
    if (params === undefined) throw new InvalidArgumentError('estimate: give --params, --model or --layers/--embd');
    const precision = (o.precision as string | undefined) ?? 'bf16';
    if (!['fp32', 'bf16', 'fp16'].includes(precision))
      throw new InvalidArgumentError(`--precision must be fp32, bf16 or fp16, got '${precision}'`);
    const shape = {
      model: model ?? peakCli.shapeFromParams(params, layers),
      micro: (o.micro as number | undefined) ?? 1,
      precision,
      assumed: model === null,
    };
    const timed = true;
    m.estimate({
      params,
      worldSize: o.worldSize,
      largestLayerParams: o.largestLayer ?? (model === null ? undefined : 4 * model.nEmbd * model.nEmbd),
      nodes: o.nodes,
      bufferFactor: o.bufferFactor,
      json: o.json,
      peak: shape,
      ...(timed
        ? {
            step: {
              layers: layers ?? shape.model.nLayer,
              tokensPerRank: (o.tokensPerRank as number | undefined) ?? shape.micro * shape.model.blockSize,
              deviceBytes: ((o.deviceGb as number | undefined) ?? 80) * 1e9,
              hw: {
                flops: (o.flops as number | undefined) ?? 989e12,
                utilization: (o.utilization as number | undefined) ?? 0.4,
                linkBytesPerSecond: (o.bandwidth as number | undefined) ?? 50e9,
                latencySeconds: (o.latency as number | undefined) ?? 5e-6,
              },
            },
          }
        : {}),
    });
  });

program
  .command('consolidate')
  .description("a checkpoint's weights as one safetensors file in Hugging Face's GPT-2 layout, with config.json")
  .argument('<dir>', 'checkpoint folder (or the save folder holding "latest")')
  .requiredOption('--out <file>', 'output .safetensors file (config.json is written beside it)')
  .option('--tag <tag>', 'checkpoint tag (default: the one "latest" names)')
  .option('--dtype <d>', 'fp32 | bf16 | fp16', (v: string) => {
    if (v !== 'fp32' && v !== 'bf16' && v !== 'fp16')
      throw new InvalidArgumentError(`--dtype must be fp32, bf16 or fp16, got '${v}'`);
    return v;
  })
  .action(async (dir: string, o: { out: string; tag?: string; dtype?: 'fp32' | 'bf16' | 'fp16' }) =>
    (await load<{ consolidate(o: unknown): void }>('./consolidate.js')).consolidate({ ...o, dir }),
  );

program
  .command('estimate-peak')
  .description('predicted peak device memory per rank of a GPT (model states + activations + buffers), every stage')
  .requiredOption('--layers <n>', 'transformer blocks', int('--layers', 1, 1 << 16))
  .requiredOption('--embd <n>', 'hidden size', int('--embd', 1, 1 << 20))
  .requiredOption('--heads <n>', 'attention heads', int('--heads', 1, 1 << 16))
  .option('--vocab <n>', 'vocabulary', int('--vocab', 1, 1 << 24), 256)
  .option('--context <n>', 'sequence length', int('--context', 1, 1 << 20), 64)
  .option('--micro <n>', 'micro-batch per rank', int('--micro', 1, 1 << 20), 1)
  .option('--world-size <n>', 'data-parallel ranks', int('--world-size', 1, 1 << 20), 2)
  .option('--precision <p>', 'fp32 | bf16 | fp16', 'bf16')
  .option(
    '--capacity-mib <n>',
    'device capacity per rank: also print the largest micro-batch that fits',
    positive('--capacity-mib'),
  )
  .option(
    '--model-buckets',
    'bucket sizes from the hidden size h (h^2, 0.9 h^2, 10 h): the default, as the engine sizes them',
  )
  .option('--deepspeed-buckets', "DeepSpeed's default bucket sizes (5e8, 5e7, 1e5) instead of the model-sized ones")
  .action(
    async (o: {
      layers: number;
      embd: number;
      heads: number;
      vocab: number;
      context: number;
      micro: number;
      worldSize: number;
      precision: string;
      capacityMib?: number;
      modelBuckets?: boolean;
      deepspeedBuckets?: boolean;
    }) => {
      if (!['fp32', 'bf16', 'fp16'].includes(o.precision))
        throw new InvalidArgumentError(`--precision must be fp32, bf16 or fp16, got '${o.precision}'`);
      const m = await load<{ estimatePeak(o: unknown): unknown }>('./estimate-peak.js');
      m.estimatePeak({
        model: { vocabSize: o.vocab, blockSize: o.context, nLayer: o.layers, nHead: o.heads, nEmbd: o.embd },
        micro: o.micro,
        worldSize: o.worldSize,
        precision: o.precision,
        capacityMiB: o.capacityMib,
        buckets: o.deepspeedBuckets ? 'deepspeed' : 'model',
      });
    },
  );

program
  .command('experiments')
  .description(
    'the classic experiment: DDP vs ZeRO-1/2/3 vs ZeRO-3 + offload, largest micro-batch, speed, memory; writes experiments/report.*',
  )
  .option('--quick', 'fewer tokens per method (about a minute)')
  .option('--json', 'print only the final JSON line')
  .option('--out <dir>', 'folder for report.md, report.html and the charts', 'experiments')
  .option('--from <result.json>', 're-render the report from the result.json of an earlier run (no training)')
  .action(async (o: { quick?: boolean; json?: boolean; out: string; from?: string }) => {
    const m = await load<{ experiments(o: unknown): Promise<unknown> }>('./experiments.js');
    await m.experiments(o);
  });
program
  .command('demo', { isDefault: false })
  .description('a short demonstration: every ZeRO stage trains GPT on the shipped corpus with 2 thread ranks')
  .option('--steps <n>', 'steps per stage', int('--steps', 1, 10_000))
  .action(async (o) => (await load<{ demo(o: unknown): Promise<void> }>('./demo.js')).demo(o));

// Bad input is one line and a non-zero exit; the stack only with --verbose (any subcommand).
const verbose = process.argv.includes('--verbose');
addNativeOptions(program); // [native blas] --kernels and ZEROTS_BLAS, before any command runs
program.parseAsync(process.argv).catch((err: unknown) => {
  if (verbose) console.error(err);
  else if (err instanceof ZeroTsError) console.error(`zerots: ${err.name}: ${err.message}`);
  else console.error(`zerots: ${err instanceof Error ? err.message : String(err)} (--verbose shows the stack)`);
  process.exit(1);
});
