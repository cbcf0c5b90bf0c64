// Stage-3 readiness: parameters released after forward are fetched again through onFetch in backward, gradients
// routed through onGrad, module hooks firing at the tape's region boundaries, and 16-bit parameter storage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Tape } from '../../src/autograd/tape.js';
import { GPT, type GPTConfig } from '../../src/nn/gpt.js';
import { bf16ToF32, f32ToBf16 } from '../../src/tensor/dtype.js';

const CFG: GPTConfig = { vocabSize: 64, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 32, seed: 7 };
const B = 2;
const T = 16;
const idx = { B, T, data: Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 64) };
const tgt = { B, T, data: Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % 64) };

function gradsOf(model: GPT): Map<string, Float32Array> {
  return new Map(model.namedParameters().map(([n, p]) => [n, p.grad!.f32().slice()]));
}

function step(model: GPT, tape: Tape): number {
  const { loss } = model.forward(tape, idx, tgt);
  const v = tape.backward(loss!);
  tape.clear();
  return v;
}

test('parameters released after forward are fetched in backward through onFetch; gradients match', () => {
  const device = new Device({ capacityBytes: 32 * 2 ** 20 });
  const ref = new GPT(device, CFG);
  const tape = new Tape(device);
  const refLoss = step(ref, tape);
  const want = gradsOf(ref);

  const model = new GPT(device, CFG); // same seed: same initial values
  const host = new Map(model.parameters().map((p) => [p, p.value().f32().slice()]));
  let fetches = 0;
  for (const p of model.parameters()) {
    p.onFetch = () => {
      fetches++;
      p.data = Tensor.fromArray(device, host.get(p)!, p.shape, { category: 'param', label: p.name });
    };
  }
  const releaseDirect = (m: { directParameters(): { release(): void }[] }): void =>
    m.directParameters().forEach((p) => p.release());
  for (const m of model.modules()) {
    m.registerPostForward(releaseDirect);
    m.registerPostBackward(releaseDirect);
  }
  model.parameters().forEach((p) => p.release());
  const { loss } = model.forward(tape, idx, tgt);
  assert.equal(
    device.memoryStats().byCategory.param.inUse,
    ref.parameters().reduce((s, p) => s + p.numel * 4, 0),
    'after forward only the reference model holds parameter data: every use released its fetch',
  );
  const fetchesInForward = fetches;
  assert.equal(
    fetchesInForward,
    model.parameters().length + 1,
    'each parameter fetched once in forward, wte twice (embedding and tied head)',
  );
  assert.equal(tape.backward(loss!), refLoss);
  tape.clear();
  assert.ok(fetches > fetchesInForward, 'backward fetched released parameters again');
  for (const [n, p] of model.namedParameters())
    assert.deepEqual(p.grad!.f32(), want.get(n), `grad ${n} equals the unreleased run's`);
});

test('a released parameter without a fetch hook fails with a StateError naming it', () => {
  const device = new Device({ capacityBytes: 32 * 2 ** 20, kernels: 'js' });
  const model = new GPT(device, CFG);
  model.h[1].mlp.c_fc.weight.release();
  assert.throws(
    () => model.forward(new Tape(device), idx, tgt),
    (e: Error) => e.name === 'StateError' && /h\.1\.mlp\.c_fc\.weight/.test(e.message),
  );
});

test('onGrad receives every contribution (wte twice); module backward hooks bracket their gradients', () => {
  const device = new Device({ capacityBytes: 32 * 2 ** 20 });
  const ref = new GPT(device, CFG);
  const tape = new Tape(device);
  step(ref, tape);
  const want = gradsOf(ref);
  const model = new GPT(device, CFG);
  const got = new Map<string, Float32Array>();
  const events: string[] = [];
  for (const [n, p] of model.namedParameters()) {
    p.onGrad = (g) => {
      events.push(`grad ${n}`);
      const acc = got.get(n) ?? new Float32Array(p.numel);
      const gv = g.f32();
      for (let i = 0; i < acc.length; i++) acc[i] += gv[i];
      got.set(n, acc);
    };
  }
  for (const b of model.h) {
    b.registerPreBackward((m) => events.push(`pre-backward ${m.prefix}`));
    b.registerPostBackward((m) => events.push(`post-backward ${m.prefix}`));
    b.registerPreForward((m) => events.push(`pre-forward ${m.prefix}`));
    b.registerPostForward((m) => events.push(`post-forward ${m.prefix}`));
  }
  step(model, tape);
  assert.equal(
    events.filter((e) => e === 'grad wte.weight').length,
    2,
    'tied wte: one contribution from the head, one from the embedding',
  );
  // one gradient contribution per module that lists the parameter in directParameters (what readiness counts on)
  const users = (p: unknown) => model.modules().filter((m) => m.directParameters().includes(p as never)).length;
  for (const [n, p] of model.namedParameters())
    assert.equal(events.filter((e) => e === `grad ${n}`).length, users(p), `${n}: users = contributions`);
  for (const [n, g] of want) {
    const mine = got.get(n)!;
    // Summation order differs from accumulating in place only for wte (two contributions added in another order).
    for (let i = 0; i < g.length; i++)
      assert.ok(Math.abs(mine[i] - g[i]) <= 1e-6 * (1 + Math.abs(g[i])), `grad ${n}[${i}]`);
  }
  const at = (e: string): number => events.indexOf(e);
  assert.ok(at('post-forward h.0') < at('pre-forward h.1'));
  assert.ok(
    at('pre-backward h.1') < at('post-backward h.1') && at('post-backward h.1') < at('pre-backward h.0'),
    'h.1 backward before h.0',
  );
  for (const i of [0, 1]) {
    const mine = events
      .map((e, k) => [e, k] as const)
      .filter(([e]) => e.startsWith(`grad h.${i}.`))
      .map(([, k]) => k);
    assert.equal(mine.length, 12, `h.${i}: 12 parameter gradients`);
    assert.ok(
      mine.every((k) => k > at(`pre-backward h.${i}`) && k < at(`post-backward h.${i}`)),
      `h.${i} gradients arrive inside its backward region`,
    );
  }
});

test('bf16 parameter storage: ops cast to fp32 workspaces; results equal an fp32 model holding the rounded values', () => {
  const device = new Device({ capacityBytes: 32 * 2 ** 20 });
  const m16 = new GPT(device, CFG, { dtype: 'bf16' });
  const m32 = new GPT(device, CFG);
  for (const [n, p] of m32.namedParameters()) {
    const init = new Float32Array(p.numel);
    p.initInto(init, 0);
    p.load(init.map((v) => bf16ToF32(f32ToBf16(v))));
    assert.equal(
      m16
        .namedParameters()
        .find(([q]) => q === n)![1]
        .value().dtype,
      'bf16',
    );
  }
  const tape = new Tape(device);
  const before = device.memoryStats().byCategory.workspace.inUse;
  const l16 = step(m16, tape);
  assert.equal(
    device.memoryStats().byCategory.workspace.inUse,
    before,
    'fp32 copies of 16-bit parameters are freed after use',
  );
  const l32 = step(m32, tape);
  assert.equal(l16, l32);
  const g32 = gradsOf(m32);
  for (const [n, g] of gradsOf(m16)) assert.deepEqual(g, g32.get(n), `grad ${n}`);
});
