// Shared by the checkpoint tests: running a case on the threads (or TCP) transport, temporary folders, comparisons.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { spawnWorld } from '../../src/launch/spawn.js';
import type { CkptCase, CkptResult } from '../ranks/checkpoint-ranks.js';

export const ranks = new URL('../ranks/checkpoint-ranks.js', import.meta.url);

export function runCase(c: CkptCase, transport: 'threads' | 'tcp' = 'threads'): Promise<CkptResult[]> {
  return spawnWorld<CkptResult>({
    worldSize: c.worldSize,
    transport,
    module: ranks,
    fn: 'run',
    args: c,
    timeoutMs: 120_000,
  });
}

export function tempDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'zerots-ckpt-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export function noErrors(res: CkptResult[]): void {
  for (const r of res) assert.equal(r.error, null, `rank ${r.rank}: ${r.error?.name}: ${r.error?.message}`);
}

export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Every parameter bit for bit. */
export function sameParams(a: Record<string, Float32Array>, b: Record<string, Float32Array>, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) assert.deepEqual(bits(a[k]), bits(b[k]), `${what}: ${k} differs`);
}

export function closeParams(
  a: Record<string, Float32Array>,
  b: Record<string, Float32Array>,
  tol: number,
  what: string,
): void {
  for (const k of Object.keys(a)) {
    let worst = 0;
    for (let i = 0; i < a[k].length; i++) worst = Math.max(worst, Math.abs(a[k][i] - b[k][i]));
    assert.ok(worst <= tol, `${what}: ${k} differs by ${worst} (> ${tol})`);
  }
}
