// Weights out (engine.saveWeights at stage 3, `zerots consolidate` from a checkpoint) in Hugging Face's GPT-2 names
// with config.json, and weights in (engine.loadWeights at stages 3 and 1; a plain GPT): the same values bit for bit,
// and under stages 1-3 each rank reads only about its own partition's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { consolidateCheckpoint } from '../../src/checkpoint/consolidate.js';
import { loadModelWeights } from '../../src/checkpoint/model-weights.js';
import { GPT } from '../../src/nn/gpt.js';
import { Device } from '../../src/tensor/device.js';
import { f32ToBf16Array } from '../../src/tensor/dtype.js';
import type { CkptCase } from '../ranks/checkpoint-ranks.js';
import { GPT_TINY } from '../helpers/lockstep-cases.js';
import { bits, noErrors, runCase, sameParams, tempDir } from '../helpers/checkpoint.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function readAll(path: string): { tensors: Record<string, Float32Array>; rd: SafetensorsReader } {
  const rd = SafetensorsReader.open(path);
  const tensors: Record<string, Float32Array> = {};
  for (const [name, t] of rd.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const b = rd.readElements(name, 0, n);
    tensors[name] = t.dtype === 'F32' ? new Float32Array(b.buffer, b.byteOffset, n).slice() : new Float32Array(0);
  }
  rd.close();
  return { tensors, rd };
}

function hfNamed(params: Record<string, Float32Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [`transformer.${k}`, v]));
}

test('weights out: saveWeights (stage 3, N = 2) and zerots consolidate give the fp32 master in GPT-2 names', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'live', 'model.safetensors');
  const base: CkptCase = { stage: 3, precision: 'bf16', worldSize: 2, gas: 1, steps: 2, dir, saveAt: [2] };
  for (const d of ['live', 'out']) mkdirSync(join(dir, d));
  const res = await runCase({ ...base, weightsOut: { path: file } });
  noErrors(res);
  const master = hfNamed(res[0].params!);
  const live = readAll(file);
  sameParams(live.tensors, master, 'saveWeights');
  assert.ok(!('lm_head.weight' in live.tensors), 'the tied head is left out, as GPT-2 files do');
  const cfg = JSON.parse(readFileSync(join(dir, 'live', 'config.json'), 'utf8'));
  assert.deepEqual(
    [cfg.model_type, cfg.vocab_size, cfg.n_positions, cfg.n_embd, cfg.n_layer, cfg.n_head, cfg.activation_function],
    ['gpt2', 23, 6, 10, 2, 2, 'gelu_new'],
  );
  assert.deepEqual(live.rd.tensors.get('transformer.h.0.attn.c_attn.weight')?.shape, [10, 30], 'Conv1D [in, out]');
  // from the checkpoint folder, through the CLI
  const out = join(dir, 'out', 'model.safetensors');
  const r = spawnSync(process.execPath, [cli, 'consolidate', dir, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout.trim().split('\n').at(-1)!).consolidate;
  assert.equal(json.tensors, Object.keys(master).length);
  const largest = Math.max(...Object.values(master).map((v) => v.byteLength));
  assert.equal(json.largestTensorBytes, largest, 'one tensor at a time');
  sameParams(readAll(out).tensors, master, 'consolidate');
  // bf16 output: the master rounded once
  const out16 = join(dir, 'out', 'model-bf16.safetensors');
  consolidateCheckpoint(dir, out16, { dtype: 'bf16' });
  const rd = SafetensorsReader.open(out16);
  const w = rd.readElements('transformer.wte.weight', 0, 230);
  assert.deepEqual(new Uint16Array(w.buffer, w.byteOffset, 230), f32ToBf16Array(master['transformer.wte.weight']));
  rd.close();
});

test('weights in: stage 3 and stage 1 engines and a plain GPT start from the file; stage-3 ranks read their partition', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'model.safetensors');
  const base: CkptCase = { stage: 2, precision: 'fp32', worldSize: 1, gas: 1, steps: 2, dir };
  const src = await runCase({ ...base, weightsOut: { path: file } });
  noErrors(src);
  const want = src[0].params!;
  const { rd } = readAll(file);
  const dataBytes = rd.fileBytes - rd.dataStart;
  for (const [stage, N] of [
    [3, 2],
    [1, 2],
    [3, 3],
  ] as const) {
    const got = await runCase({ ...base, stage, worldSize: N, steps: 0, model: { seed: 99 }, initFrom: dir });
    noErrors(got);
    sameParams(got[0].params!, want, `stage ${stage} N ${N}`);
    for (const r of got) {
      const read = r.weightsRead! - rd.dataStart;
      // stages 1-3: the rank's own chunk of every bucket (stages 1-2 then all-gather the parameters)
      assert.ok(read <= dataBytes / N + 4096, `rank ${r.rank} read ${read} of ${dataBytes} data bytes`);
      assert.ok(read >= dataBytes / N - 4096, `rank ${r.rank} read ${read} of ${dataBytes} data bytes`);
    }
  }
  const device = new Device({ capacityBytes: 8 << 20, kernels: 'js' });
  const gpt = new GPT(device, { ...GPT_TINY, seed: 5 });
  loadModelWeights(gpt, file);
  for (const p of gpt.parameters())
    assert.deepEqual(bits(p.data!.toFloat32()), bits(want[p.name]), `plain GPT ${p.name}`);
  const wrong = new GPT(device, { ...GPT_TINY, nEmbd: 12 });
  assert.throws(() => loadModelWeights(wrong, file), /config\.json does not fit the model: nEmbd 10 \(model 12\)/);
});
