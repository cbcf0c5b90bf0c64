// Loads the PyTorch golden fixtures written by tools/golden_gpt.py (test/fixtures/<name>.json + .bin).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/helpers/golden-fixture.js; fixtures stay in the source tree.
export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures');

export interface Fixture {
  manifest: {
    config: Record<string, unknown>;
    params: { name: string; shape: number[] }[];
    targets: number[];
    loss: number;
    stepLosses: number[];
    adamw: { lr: number; betas: [number, number]; eps: number; weight_decay: number; steps: number };
    batch: number[];
    idx?: number[];
    x?: number[];
  };
  get(key: string): Float32Array;
}

export function loadFixture(name: string): Fixture {
  const manifest = JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8'));
  const bin = readFileSync(join(FIXTURE_DIR, manifest.file));
  const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  return {
    manifest,
    get(key: string): Float32Array {
      const t = manifest.tensors[key];
      if (t === undefined) throw new Error(`fixture ${name}: no tensor ${key}`);
      const n = t.shape.reduce((a: number, b: number) => a * b, 1);
      return all.subarray(t.offset, t.offset + n);
    },
  };
}

/** ||a - b|| / ||b|| (0 when both are 0). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
