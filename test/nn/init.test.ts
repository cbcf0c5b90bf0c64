// GPT-2 names, layouts and initialisation; shard-local init equals the single-process values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { GPT } from '../../src/nn/gpt.js';

const CFG = { vocabSize: 256, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 64, seed: 42 };

test('GPT-2 parameter names, order and shapes', () => {
  const device = new Device({ capacityBytes: 16 * 2 ** 20 });
  const model = new GPT(device, CFG, { materialize: false });
  const C = 64;
  const want: [string, number[]][] = [
    ['wte.weight', [256, C]],
    ['wpe.weight', [32, C]],
  ];
  for (let i = 0; i < 2; i++) {
    want.push(
      [`h.${i}.ln_1.weight`, [C]],
      [`h.${i}.ln_1.bias`, [C]],
      [`h.${i}.attn.c_attn.weight`, [C, 3 * C]],
      [`h.${i}.attn.c_attn.bias`, [3 * C]],
      [`h.${i}.attn.c_proj.weight`, [C, C]],
      [`h.${i}.attn.c_proj.bias`, [C]],
      [`h.${i}.ln_2.weight`, [C]],
      [`h.${i}.ln_2.bias`, [C]],
      [`h.${i}.mlp.c_fc.weight`, [C, 4 * C]],
      [`h.${i}.mlp.c_fc.bias`, [4 * C]],
      [`h.${i}.mlp.c_proj.weight`, [4 * C, C]],
      [`h.${i}.mlp.c_proj.bias`, [C]],
    );
  }
  want.push(['ln_f.weight', [C]], ['ln_f.bias', [C]]);
  assert.deepEqual(
    model.namedParameters().map(([n, p]) => [n, [...p.shape]]),
    want,
  );
  assert.equal(device.memoryStats().byCategory.param.inUse, 0, 'materialize: false allocates no parameter data');
  assert.deepEqual(model.lm_head.directParameters(), [model.wte.weight], 'the LM head uses wte (tied)');
});

test('GPT-2 init: normal(0, 0.02), c_proj 0.02/sqrt(2 nLayer), biases 0, LayerNorm 1/0', () => {
  const device = new Device({ capacityBytes: 16 * 2 ** 20 });
  const model = new GPT(device, CFG);
  for (const [n, p] of model.namedParameters()) {
    const v = p.value().f32();
    let s = 0;
    let s2 = 0;
    for (const x of v) {
      s += x;
      s2 += x * x;
    }
    const mean = s / v.length;
    const std = Math.sqrt(s2 / v.length - mean * mean);
    if (n.endsWith('.bias'))
      assert.ok(
        v.every((x) => x === 0),
        `${n} is zero`,
      );
    else if (/ln_\d|ln_f/.test(n))
      assert.ok(
        v.every((x) => x === 1),
        `${n} is one`,
      );
    else {
      const wantStd = n.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * CFG.nLayer) : 0.02;
      assert.ok(Math.abs(std / wantStd - 1) < 0.05, `${n}: std ${std} vs ${wantStd}`);
      assert.ok(Math.abs(mean) < (4 * wantStd) / Math.sqrt(v.length), `${n}: mean ${mean}`);
    }
  }
});

test('shard-local init: any range equals the same slice of the whole parameter; seeds and names differ', () => {
  const device = new Device({ capacityBytes: 16 * 2 ** 20 });
  const model = new GPT(device, CFG, { materialize: false });
  const other = new GPT(device, { ...CFG, seed: 43 }, { materialize: false });
  const p = model.h[1].mlp.c_fc.weight;
  const full = new Float32Array(p.numel);
  p.initInto(full, 0);
  for (const [start, len] of [
    [0, 1],
    [1, 100],
    [4095, 3],
    [p.numel - 17, 17],
    [12345, 4000],
  ]) {
    const part = new Float32Array(len);
    p.initInto(part, start);
    assert.deepEqual(part, full.subarray(start, start + len), `range [${start}, ${start + len})`);
  }
  const o = new Float32Array(p.numel);
  other.h[1].mlp.c_fc.weight.initInto(o, 0);
  assert.notDeepEqual(o, full, 'another seed gives other values');
  const q = new Float32Array(p.numel);
  model.h[0].mlp.c_fc.weight.initInto(q, 0);
  assert.notDeepEqual(q, full, 'another parameter gives other values');
  assert.throws(() => p.initInto(new Float32Array(2), p.numel - 1), /outside/);
});
