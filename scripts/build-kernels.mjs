// Compiles every AssemblyScript entry `src/<layer>/assembly/<name>.ts` (files starting with `_` are shared
// includes, not entries) to two wasm builds in dist/wasm/: `<name>.wasm` (plain 128-bit SIMD) and
// `<name>.relaxed.wasm` (relaxed SIMD: FMA). The loader picks one at start-up after WebAssembly.validate.
// [Note: static data of wasm modules] every module shares its rank's device memory; each module's static data is
// placed at its own memoryBase inside the first 64 KiB, which the device allocator never hands out.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'wasm');
mkdirSync(out, { recursive: true });
const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
// memoryBase per module: each gets an 8 KiB slot of the reserved first 64 KiB.
const MEMORY_BASE = { kernels: 0, reduce: 8192 };
const layers = readdirSync(join(root, 'src'));
let slot = 2;
for (const layer of layers.sort()) {
  const dir = join(root, 'src', layer, 'assembly');
  if (!existsSync(dir)) continue;
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.ts') || file.startsWith('_')) continue;
    const name = file.slice(0, -3);
    const base = MEMORY_BASE[name] ?? 8192 * slot++;
    if (base >= 65536) throw new Error(`too many wasm modules for the reserved 64 KiB (at ${name})`);
    for (const relaxed of [false, true]) {
      const target = join(out, relaxed ? `${name}.relaxed.wasm` : `${name}.wasm`);
      const args = [
        asc,
        join(dir, file),
        '-o',
        target,
        '--runtime',
        'stub',
        '-O3',
        '--noAssert',
        '--importMemory',
        '--sharedMemory',
        '--initialMemory',
        '1',
        '--maximumMemory',
        '65536',
        '--memoryBase',
        String(base),
        '--enable',
        relaxed ? 'simd,threads,relaxed-simd' : 'simd,threads',
      ];
      execFileSync(process.execPath, args, { stdio: 'inherit', cwd: root });
    }
    console.log(`built ${name} (memoryBase ${base})`);
  }
}
