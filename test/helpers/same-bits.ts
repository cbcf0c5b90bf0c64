// The lockstep verdict of the offload tests: two engine runs trained the same model, bit for bit (losses, gradient
// norms, and every parameter and moment of `want`).
import assert from 'node:assert/strict';
import type { EngineResult } from '../ranks/engine-ranks.js';

export function sameBits(got: EngineResult, want: EngineResult, tag: string): void {
  assert.deepEqual(got.losses, want.losses, `${tag}: losses`);
  assert.deepEqual(got.norms, want.norms, `${tag}: gradient norms`);
  for (const key of ['params', 'm', 'v'] as const)
    for (const [name, w] of Object.entries(want[key]!))
      assert.deepEqual(got[key]![name], w, `${tag}: ${key} ${name} equal bit for bit`);
}
