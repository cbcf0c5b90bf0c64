// `--kernels auto|blas|wasm` on the commands that compute, and ZEROTS_BLAS / ZEROTS_BLAS_THREADS for every command:
// applied before the command runs, in this process and (through the environment worker threads and child
// processes inherit) in its ranks. See [Note: native backends] in docs/design-notes.md.
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../errors.js';
import { blasStatus } from '../kernels/blas/policy.js';
import { configureNativeFromEnv } from '../launch/native-env.js';

const COMPUTING = new Set(['gemm', 'train', 'zero', 'demo']);

function kernels(v: string): 'auto' | 'blas' | 'wasm' {
  if (v !== 'auto' && v !== 'blas' && v !== 'wasm')
    throw new InvalidArgumentError(`--kernels must be auto, blas or wasm, got '${v}'`);
  return v;
}

/** Adds --kernels to the computing subcommands of `program` and the hook that applies it. */
export function addNativeOptions(program: Command): void {
  const walk = (c: Command): void => {
    for (const sub of c.commands) {
      if (sub.commands.length > 0) walk(sub);
      else if (COMPUTING.has(sub.name()))
        sub.option('--kernels <k>', 'matrix products: auto (OpenBLAS when it loads), blas or wasm', kernels);
    }
  };
  walk(program);
  program.hook('preAction', (_root, action) => {
    const k = (action.opts() as { kernels?: string }).kernels;
    // Worker threads and child processes copy this environment, so every rank sees the same choice.
    if (k === 'wasm') process.env.ZEROTS_BLAS = 'off';
    configureNativeFromEnv();
    if (k === 'blas') {
      const s = blasStatus();
      if (!s.ok)
        throw new ConfigError(
          `--kernels blas: no native BLAS loads (${s.reason}); install libopenblas0-pthread and the optional npm ` +
            'package koffi, set ZEROTS_BLAS to the library path, or use --kernels wasm',
          '--kernels',
        );
    }
  });
}
