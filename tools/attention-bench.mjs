// Fused (flash) attention against the old kernel that saved the T x T probabilities, same inputs, same run:
// forward and backward CPU ms per call at bench train's shape (B 8, T 256, C 384, 6 heads). Best of N per kernel,
// alternating, so a shared machine's noise hits both. node tools/attention-bench.mjs [reps]
import { Device } from '../dist/src/tensor/device.js';
const [B, T, C, nh] = [8, 256, 384, 6];
const reps = Number(process.argv[2] ?? 5);
const dev = new Device({ capacityBytes: 256 << 20, kernels: 'wasm' });
const k = dev.kernels;
const al = (n) => dev.alloc(4 * n, 'other').ptr;
const qkv = al(B * T * 3 * C),
  out = al(B * T * C),
  dout = al(B * T * C),
  dqkv = al(B * T * 3 * C);
const att = al(B * nh * T * T),
  lse = al(B * nh * T);
const ws = al(Math.ceil(Math.max(k.attentionScratchBytes(B, T, C, nh), k.flashAttentionScratchBytes(B, T, C, nh)) / 4));
const f = dev.f32(qkv, B * T * 3 * C);
for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.37) * 0.5;
const g = dev.f32(dout, B * T * C);
for (let i = 0; i < g.length; i++) g[i] = Math.cos(i * 0.11) * 0.1;
// process CPU time (user + system): on a shared machine it leaves out the time other processes held the core
const time = (fn) => {
  const t = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1e3;
};
const best = { oldF: 1e9, oldB: 1e9, flashF: 1e9, flashB: 1e9 };
const keepBest = (key, fn) => {
  best[key] = Math.min(best[key], time(fn));
};
for (let r = 0; r < reps; r++) {
  keepBest('oldF', () => k.attentionForward(out, att, qkv, ws, B, T, C, nh));
  keepBest('oldB', () => k.attentionBackward(dqkv, dout, qkv, att, ws, B, T, C, nh, false));
  keepBest('flashF', () => k.flashAttentionForward(out, lse, qkv, ws, B, T, C, nh));
  keepBest('flashB', () => k.flashAttentionBackward(dqkv, dout, qkv, lse, ws, B, T, C, nh, false));
}
const r = (x) => Number(x.toFixed(2));
console.log(
  JSON.stringify({
    bench: 'attention',
    ...Object.fromEntries(Object.entries(best).map(([a, b]) => [a, r(b)])),
    fwd_ratio: r(best.flashF / best.oldF),
    bwd_ratio: r(best.flashB / best.oldB),
    total_ratio: r((best.flashF + best.flashB) / (best.oldF + best.oldB)),
  }),
);
