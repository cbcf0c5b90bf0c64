#!/usr/bin/env node
// The `zerots` command: train | launch | estimate | consolidate | bench | demo. Each subcommand lives in its own module under
// src/cli/ and is loaded only when called, so `zerots launch` does not pay for the kernels' compile.
import { Command, InvalidArgumentError } from 'commander';
import { ZeroTsError } from '../errors.js';

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

/** Loads a subcommand module by its file name (relative to this file). */
async function load<T>(file: string): Promise<T> {
  return (await import(new URL(file, import.meta.url).href)) as T;
}

const program = new Command('zerots')
  .description('ZeRO data-parallel training for TypeScript on Node.js')
  .showHelpAfterError()
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
  .action(async (o: { steps?: number; threads?: number[]; torch: boolean; torchBlasDir?: string }) => {
    const m = await load<{ benchTrain(o: unknown): Promise<unknown> }>('./bench-train.js');
    await m.benchTrain({ steps: o.steps, threads: o.threads, noTorch: !o.torch, torchBlasDir: o.torchBlasDir });
  });
bench
  .command('comm')
  .description('collective bandwidth and latency against memcpy')
  .option('--transport <t>', 'threads | tcp', transport, 'threads')
  .option('--world-size <n>', 'ranks', int('--world-size', 1, 64), 2)
  .action(async (o) => (await load<{ benchComm(o: unknown): Promise<void> }>('./bench-comm.js')).benchComm(o));
bench
  .command('zero')
  .description('every ZeRO stage on one model: tokens/s, peak memory per rank, comm bytes per step')
  .option('--world-size <n>', 'ranks', int('--world-size', 1, 16), 2)
  .option('--precision <p>', 'fp32 | bf16 (default bf16)', (v: string) => {
    if (v !== 'fp32' && v !== 'bf16') throw new InvalidArgumentError(`--precision must be fp32 or bf16, got '${v}'`);
    return v;
  })
  .option('--steps <n>', 'steps per stage (2 of them untimed warm-up)', int('--steps', 3, 10_000))
  .action(async (o: { worldSize: number; precision?: string; steps?: number }) => {
    const m = await load<{ benchZero(o: unknown): Promise<unknown> }>('./bench-zero.js');
    const spec: Record<string, unknown> = {};
    if (o.precision !== undefined) spec.precision = o.precision;
    if (o.steps !== undefined) spec.steps = o.steps;
    await m.benchZero({ worldSize: o.worldSize, spec });
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
  .description(
    'train GPT on the shipped corpus through the ZeRO engine: one rank (stage 0) or N thread ranks (stage 2)',
  )
  .option(
    '--config <file>',
    'DeepSpeed JSON config (default: stage 0 on one rank, 2 on several; AdamW, WarmupCosineLR)',
  )
  .option('--steps <n>', 'optimizer steps', int('--steps', 1, 1_000_000))
  .option(
    '--world-size <n>',
    'data-parallel ranks as worker threads (default 1: this thread)',
    int('--world-size', 1, 64),
  )
  .option(
    '--save-dir <dir>',
    'save checkpoints here (<dir>/step-N, <dir>/latest); without --save-every once, at the end',
  )
  .option('--save-every <n>', 'a checkpoint every n optimizer steps', int('--save-every', 1, 1_000_000))
  .option('--resume [dir]', 'resume from a checkpoint (default: the latest in --save-dir), at any world size and stage')
  .option('--init-from <file>', 'initialise the weights from a safetensors file or folder (GPT-2 layout)')
  .action(async (o) => (await load<{ train(o: unknown): Promise<void> }>('./train.js')).train(o));

program
  .command('launch')
  .description('start N ranks of a script (threads or processes), with rank discovery from the environment')
  .requiredOption('--nproc-per-node <n>', 'ranks on this node', int('--nproc-per-node', 1, 256))
  .option('--transport <t>', 'threads | tcp', transport, 'tcp')
  .option('--nnodes <n>', 'number of nodes', int('--nnodes', 1, 4096), 1)
  .option('--node-rank <k>', "this node's index", int('--node-rank', 0, 4095), 0)
  .option('--master-addr <addr>', 'rendezvous host', '127.0.0.1')
  .option('--master-port <port>', 'rendezvous port', int('--master-port', 1, 65535), 29500)
  .argument('<script>', 'the script every rank runs')
  .argument('[args...]', 'arguments for the script')
  .passThroughOptions()
  .action(async (script: string, args: string[], o) =>
    (await load<{ launch(o: unknown): Promise<void> }>('./launch.js')).launch({ ...o, script, args }),
  );

program
  .command('estimate')
  .description('model-state memory per rank and communication per step for every ZeRO stage (closed form)')
  .requiredOption('--params <n>', 'number of parameters (e.g. 7.5e9)', positive('--params'))
  .option('--world-size <n>', 'data-parallel ranks', int('--world-size', 1, 1 << 20), 1)
  .option(
    '--largest-layer <n>',
    "parameters of the largest layer (for DeepSpeed's stage-3 estimator)",
    positive('--largest-layer'),
  )
  .option('--nodes <n>', 'nodes the ranks are spread over', int('--nodes', 1, 1 << 20))
  .option('--buffer-factor <x>', "DeepSpeed's buffer factor (default 1.5)", positive('--buffer-factor'))
  .option('--json', 'print the rows as JSON')
  .action(
    async (o: {
      params: number;
      worldSize: number;
      largestLayer?: number;
      nodes?: number;
      bufferFactor?: number;
      json?: boolean;
    }) => {
      const m = await load<{ estimate(o: unknown): unknown }>('./estimate.js');
      m.estimate({
        params: o.params,
        worldSize: o.worldSize,
        largestLayerParams: o.largestLayer,
        nodes: o.nodes,
        bufferFactor: o.bufferFactor,
        json: o.json,
      });
    },
  );

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
  .command('demo', { isDefault: false })
  .description('a short demonstration: every ZeRO stage trains GPT on the shipped corpus with 2 thread ranks')
  .option('--steps <n>', 'steps per stage', int('--steps', 1, 10_000))
  .action(async (o) => (await load<{ demo(o: unknown): Promise<void> }>('./demo.js')).demo(o));

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ZeroTsError) {
    console.error(`zerots: ${err.name}: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
