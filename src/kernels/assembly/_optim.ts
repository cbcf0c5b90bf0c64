// Fused AdamW over flat fp32 (the formula is in src/kernels/types.ts), reading fp32, bf16 or f16 gradients and
// optionally writing the updated parameters as bf16 in the same pass.
import { bf16Round, bf16x4, bf16Scalar, f16BitsToF32 } from './_half';

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}
// @ts-ignore: decorator
@inline function at16(base: usize, index: i32): usize {
  return base + (<usize>index << 1);
}

// [Note: adamw constants] in docs/design-notes.md: the scalars derived from the hyperparameters arrive computed
// (src/kernels/wasm.ts rounds each to f32 as one f32 operation here would); computed here, V8 put them in the loop.

/** Gradient of 4 lanes from element i: fp32 (0), bf16 (1) or f16 (2, scalar decode; 16-bit storage paths only). */
// @ts-ignore: decorator
@inline function f16x4(grad: usize, i: i32): v128 {
  let r = f32x4.splat(f16BitsToF32(<u32>load<u16>(at16(grad, i))));
  r = f32x4.replace_lane(r, 1, f16BitsToF32(<u32>load<u16>(at16(grad, i + 1))));
  r = f32x4.replace_lane(r, 2, f16BitsToF32(<u32>load<u16>(at16(grad, i + 2))));
  return f32x4.replace_lane(r, 3, f16BitsToF32(<u32>load<u16>(at16(grad, i + 3))));
}

// @ts-ignore: decorator
@inline function grad1(grad: usize, i: i32, gradType: i32): f32 {
  if (gradType == 0) return load<f32>(at(grad, i));
  const h = <u32>load<u16>(at16(grad, i));
  return gradType == 1 ? reinterpret<f32>(h << 16) : f16BitsToF32(h);
}

/** Elements i..i+3 updated in place from their gradient g (unscaled); returns the new p. */
// @ts-ignore: decorator
@inline function lanes(p: usize, m: usize, v: usize, i: i32, graw: v128, decoupled: bool, vb1: v128, vb2: v128,
  vnb1: v128, vnb2: v128, vgs: v128, vwd: v128, vdecay: v128, vstep: v128, vibc2: v128, veps: v128): v128 {
  let pi = v128.load(at(p, i));
  let g = f32x4.mul(graw, vgs);
  if (!decoupled) g = f32x4.add(g, f32x4.mul(vwd, pi));
  const mi = f32x4.add(f32x4.mul(vb1, v128.load(at(m, i))), f32x4.mul(vnb1, g));
  const vi = f32x4.add(f32x4.mul(vb2, v128.load(at(v, i))), f32x4.mul(vnb2, f32x4.mul(g, g)));
  if (decoupled) pi = f32x4.mul(pi, vdecay);
  const den = f32x4.add(f32x4.sqrt(f32x4.mul(vi, vibc2)), veps);
  pi = f32x4.sub(pi, f32x4.div(f32x4.mul(vstep, mi), den));
  v128.store(at(m, i), mi);
  v128.store(at(v, i), vi);
  v128.store(at(p, i), pi);
  return pi;
}

// @ts-ignore: decorator
@inline function run(p: usize, grad: usize, m: usize, v: usize, out: usize, n: i32, gradType: i32, outBf16: bool,
  decoupled: bool, b1: f32, b2: f32, nb1: f32, nb2: f32, eps: f32, wd: f32, decay: f32, step: f32, ibc2: f32,
  gradScale: f32): void {
  const vb1 = f32x4.splat(b1), vb2 = f32x4.splat(b2), vnb1 = f32x4.splat(nb1), vnb2 = f32x4.splat(nb2);
  const vgs = f32x4.splat(gradScale), vwd = f32x4.splat(wd), vdecay = f32x4.splat(decay);
  const vstep = f32x4.splat(step), vibc2 = f32x4.splat(ibc2), veps = f32x4.splat(eps);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    let g0: v128, g1: v128;
    if (gradType == 1) {
      const h = v128.load(at16(grad, i));
      g0 = i32x4.shl(i32x4.extend_low_i16x8_u(h), 16);
      g1 = i32x4.shl(i32x4.extend_high_i16x8_u(h), 16);
    } else if (gradType == 0) {
      g0 = v128.load(at(grad, i));
      g1 = v128.load(at(grad, i + 4));
    } else {
      g0 = f16x4(grad, i);
      g1 = f16x4(grad, i + 4);
    }
    const q0 = lanes(p, m, v, i, g0, decoupled, vb1, vb2, vnb1, vnb2, vgs, vwd, vdecay, vstep, vibc2, veps);
    const q1 = lanes(p, m, v, i + 4, g1, decoupled, vb1, vb2, vnb1, vnb2, vgs, vwd, vdecay, vstep, vibc2, veps);
    if (outBf16) {
      // a NaN needs bf16x4's quieting select; without one, the rounding alone gives the same bits
      if (v128.any_true(v128.or(f32x4.ne(q0, q0), f32x4.ne(q1, q1))))
        v128.store(at16(out, i), i16x8.narrow_i32x4_u(bf16x4(q0), bf16x4(q1)));
      else v128.store(at16(out, i), i16x8.narrow_i32x4_u(bf16Round(q0), bf16Round(q1)));
    }
  }
  // The tail computes exactly what a SIMD lane does (the same f32 constants, the same order), so an element's
  // result does not depend on where a shard starts: an offloaded step split into blocks and threads gives the
  // device step's bits ([Note: blocked offload step] in src/zero/offload/adam-job.ts).
  for (; i < n; i++) {
    let pi = load<f32>(at(p, i));
    let g = grad1(grad, i, gradType) * gradScale;
    if (!decoupled) g = g + wd * pi;
    const mi = b1 * load<f32>(at(m, i)) + nb1 * g;
    const vi = b2 * load<f32>(at(v, i)) + nb2 * (g * g);
    if (decoupled) pi = pi * decay;
    const den = Mathf.sqrt(vi * ibc2) + eps;
    pi = pi - (step * mi) / den;
    store<f32>(at(m, i), mi);
    store<f32>(at(v, i), vi);
    store<f32>(at(p, i), pi);
    if (outBf16) store<u16>(at16(out, i), <u16>bf16Scalar(reinterpret<u32>(pi)));
  }
}

/**
 * p, m, v updated in place from grad (gradType 0 fp32, 1 bf16, 2 f16); when outBf16, the new p rounded to bf16 at
 * out. nb1 = 1 - b1, nb2 = 1 - b2, decay = 1 - lr*wd, step = lr/bc1, ibc2 = 1/bc2 ([Note: adamw constants]).
 */
export function adamw(p: usize, grad: usize, m: usize, v: usize, out: usize, n: i32, gradType: i32, outBf16: bool,
  decoupled: bool, b1: f32, b2: f32, nb1: f32, nb2: f32, eps: f32, wd: f32, decay: f32, step: f32, ibc2: f32,
  gs: f32): void {
  // one specialised loop per combination (the flags are constants after inlining)
  if (decoupled) {
    if (gradType == 1) {
      if (outBf16) run(p, grad, m, v, out, n, 1, true, true, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
      else run(p, grad, m, v, out, n, 1, false, true, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
    } else if (gradType == 0) {
      if (outBf16) run(p, grad, m, v, out, n, 0, true, true, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
      else run(p, grad, m, v, out, n, 0, false, true, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
    } else if (outBf16) run(p, grad, m, v, out, n, 2, true, true, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
    else run(p, grad, m, v, out, n, 2, false, true, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
  } else if (gradType == 1) {
    if (outBf16) run(p, grad, m, v, out, n, 1, true, false, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
    else run(p, grad, m, v, out, n, 1, false, false, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
  } else if (gradType == 0) {
    if (outBf16) run(p, grad, m, v, out, n, 0, true, false, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
    else run(p, grad, m, v, out, n, 0, false, false, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
  } else if (outBf16) run(p, grad, m, v, out, n, 2, true, false, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
  else run(p, grad, m, v, out, n, 2, false, false, b1, b2, nb1, nb2, eps, wd, decay, step, ibc2, gs);
}
