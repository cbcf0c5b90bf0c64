// Bad input: every op refuses a shape it cannot use with a ShapeError that names the op and both shapes, and
// leaves the device as it was (nothing half-written: no activation is left behind by the failed call).
import test from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { Tape } from '../../src/autograd/tape.js';
import { add, causalAttention, crossEntropy, embedding, layerNorm, linear } from '../../src/autograd/ops/index.js';
import { ShapeError } from '../../src/errors.js';
import { param, rand } from '../helpers/autograd.js';

function refused(fn: () => unknown, ...mustName: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ShapeError, `expected ShapeError, got ${String(e)}`);
    for (const re of mustName) assert.match(e.message, re);
    return true;
  });
}

test('ops refuse mismatched shapes with ShapeError naming the op and both shapes; nothing is left allocated', () => {
  const device = new Device({ capacityBytes: 16 << 20, kernels: 'js' });
  const w = param(device, 'h.0.mlp.c_fc.weight', [8, 32], rand(8 * 32, 1));
  const b = param(device, 'h.0.mlp.c_fc.bias', [32], rand(32, 2));
  const g = param(device, 'ln_f.weight', [8], rand(8, 3));
  const beta = param(device, 'ln_f.bias', [8], rand(8, 4));
  const wte = param(device, 'wte.weight', [16, 8], rand(16 * 8, 5));
  const tape = new Tape(device);
  const x = tape.input(rand(3 * 7, 6), [3, 7]); // 7 features where 8 are expected
  const y = tape.input(rand(3 * 8, 7), [3, 8]);
  const before = device.memoryStats().inUseBytes;

  refused(() => linear(tape, x, w, b), /linear/, /7/, /\[8, 32\]/, /c_fc\.weight/);
  refused(() => add(tape, x, y), /add/, /\[3, 7\]/, /\[3, 8\]/);
  refused(() => layerNorm(tape, x, g, beta), /layerNorm|layer_norm|LayerNorm/i, /\[3, 7\]|7/, /\[8\]|8/);
  refused(
    () => causalAttention(tape, tape.input(rand(2 * 4 * 10, 8), [2, 4, 10]), 2),
    /causalAttention/,
    /\[2, 4, 10\]/,
  );
  const logits = tape.input(rand(3 * 16, 9), [3, 16]);
  refused(() => crossEntropy(tape, logits, tape.input([1, 2], [2], { dtype: 'i32' })), /crossEntropy/, /3/, /\[2\]/);
  refused(() => crossEntropy(tape, logits, tape.input([1, 2, 16], [3], { dtype: 'i32' })), /crossEntropy/, /16/);
  refused(() => embedding(tape, tape.input([0, 16], [2], { dtype: 'i32' }), wte), /embedding/, /wte\.weight/, /16/);

  // the failed calls allocated nothing beyond the inputs created above for them
  const inputsForFailures = (2 * 4 * 10 + 3 * 16) * 4 + 2 * 4 + 3 * 4 + 2 * 4;
  assert.ok(device.memoryStats().inUseBytes - before <= inputsForFailures + 6 * 64, 'no activation left behind');
  tape.clear();
});
