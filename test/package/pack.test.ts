// The package as a TypeScript user gets it: `npm pack` (of the built tree), installed into a fresh project from the
// npm cache (offline: the dependencies are there since `npm ci`), then a strict `tsc` over a program that imports
// zerots' root and builds its own model, and the same program run. The tarball must carry declarations and no
// tests, fixtures or source maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const hasNpm = spawnSync(npm, ['--version'], { encoding: 'utf8' }).status === 0;

const PROGRAM = `import {
  ConfigError, Device, Linear, Module, Tape, crossEntropy, fillAuto, gelu, initialize, resolveConfig, spawnWorld,
  commOptionsFor, AdamW, WarmupCosineLR, DistributedSampler, type RankContext, type Tensor, type TrainableModule,
} from 'zerots';

class Tiny extends Module implements TrainableModule {
  readonly fc: Linear;
  constructor(readonly device: Device) {
    super('');
    this.fc = this.addChild('fc', new Linear({ device, seed: 1 }, 'fc', 4, 3));
  }
  forward(tape: Tape, x: Float32Array, y: Int32Array): { loss: Tensor } {
    return this.region(tape, () => {
      const h = gelu(tape, this.fc.forward(tape, tape.input(x, [y.length, 4])));
      return { loss: crossEntropy(tape, h, tape.input(y, [y.length], { dtype: 'i32' })) };
    });
  }
}

export async function rank(ctx: RankContext): Promise<number> {
  const device = new Device({ capacityBytes: 16 << 20 });
  const config = resolveConfig(fillAuto({ train_micro_batch_size_per_gpu: 'auto', zero_optimization: { stage: 3 } }, {
    worldSize: ctx.worldSize, microBatch: 2, gradientAccumulation: 1, lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8,
    weightDecay: 0, gradClip: 0, warmupSteps: 0, totalSteps: 2, precision: 'fp32',
  }).config, { worldSize: ctx.worldSize });
  const comm = commOptionsFor(device, config, { worldSize: ctx.worldSize });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const engine = initialize({ model: new Tiny(device), config, group });
  const { loss } = engine.trainBatch([[new Float32Array(8).fill(ctx.rank), Int32Array.of(0, 1)]]);
  engine.dispose();
  return loss;
}

const unused: [typeof AdamW, typeof WarmupCosineLR, typeof DistributedSampler, typeof ConfigError] = [
  AdamW, WarmupCosineLR, DistributedSampler, ConfigError,
];
void unused;
const losses: number[] = await spawnWorld<number>({ worldSize: 2, module: import.meta.url, fn: 'rank' });
for (const l of losses) console.log(l.toFixed(4));
`;

type LockEntry = { version?: string; integrity?: string; dev?: boolean; dependencies?: Record<string, string> };

function appManifest(tarball: string): Record<string, unknown> {
  const types = ourLock().packages['node_modules/@types/node']!.version!;
  return {
    name: 'app',
    private: true,
    type: 'module',
    dependencies: { zerots: `file:${tarball}`, '@types/node': types },
  };
}

function ourLock(): { packages: Record<string, LockEntry> } {
  return JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
}

function appLock(tarball: string): Record<string, unknown> {
  const ours = ourLock().packages;
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': appManifest(tarball),
    'node_modules/zerots': {
      version: manifest.version,
      resolved: `file:${tarball}`,
      integrity,
      dependencies: manifest.dependencies,
    },
  };
  // the tarball address npm would use (the configured registry's), so that npm looks no metadata up
  const registry = execFileSync(npm, ['config', 'get', 'registry'], { encoding: 'utf8' }).trim().replace(/\/$/, '');
  for (const [k, v] of Object.entries(ours)) {
    const types = k === 'node_modules/@types/node' || k === 'node_modules/undici-types';
    if (k === '' || (v.dev && !types)) continue;
    const name = k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = `${registry}/${name}/-/${name.replace(/^@[^/]+\//, '')}-${v.version}.tgz`;
    packages[k] = { ...v, dev: undefined, resolved };
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

test('npm pack: declarations, no tests or maps; installs offline; a strict tsc program imports zerots and runs', {
  skip: hasNpm ? false : 'npm is not on PATH',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-pack-'));
  try {
    const packed = JSON.parse(
      execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
        cwd: root,
        encoding: 'utf8',
      }),
    ) as { filename: string; files: { path: string }[] }[];
    const files = packed[0]!.files.map((f) => f.path);
    assert.ok(files.includes('dist/src/index.d.ts') && files.includes('dist/src/index.js'));
    assert.ok(files.some((f) => f.endsWith('.wasm')));
    const unwanted = files.filter((f) => /(^|\/)(test|fixtures)\/|\.map$|\.test\./.test(f));
    assert.deepEqual(unwanted, [], 'no tests, fixtures or source maps in the tarball');
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify(appManifest(join(dir, packed[0]!.filename))));
    // A lockfile made from ours (the runtime dependencies, @types/node) so that `npm ci --offline` takes every
    // tarball from the cache by its integrity, as `npm ci` left it: no registry is asked.
    const tarball = join(dir, packed[0]!.filename);
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(tarball)));
    execFileSync(npm, ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app, stdio: 'pipe' });
    writeFileSync(join(app, 'main.ts'), PROGRAM);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          types: ['node'],
          outDir: 'out',
        },
        files: ['main.ts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', app], { encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
    const run = spawnSync(process.execPath, [join(app, 'out', 'main.js')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 2, run.stdout);
    assert.ok(
      lines.every((l) => Number.isFinite(Number(l))),
      run.stdout,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
