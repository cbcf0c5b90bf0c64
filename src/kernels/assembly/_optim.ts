// Fused AdamW over flat fp32 (the formula is in src/kernels/types.ts).

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

export function adamw(p: usize, grad: usize, m: usize, v: usize, n: i32, lr: f32, b1: f32, b2: f32, eps: f32,
  wd: f32, decoupled: bool, bc1: f32, bc2: f32, gradScale: f32): void {
  const vb1 = f32x4.splat(b1), vb2 = f32x4.splat(b2), vnb1 = f32x4.splat(1 - b1), vnb2 = f32x4.splat(1 - b2);
  const vgs = f32x4.splat(gradScale), vwd = f32x4.splat(wd), vdecay = f32x4.splat(1 - lr * wd);
  const vstep = f32x4.splat(lr / bc1), vibc2 = f32x4.splat(1 / bc2), veps = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let pi = v128.load(at(p, i));
    let g = f32x4.mul(v128.load(at(grad, i)), vgs);
    if (!decoupled) g = f32x4.add(g, f32x4.mul(vwd, pi));
    const mi = f32x4.add(f32x4.mul(vb1, v128.load(at(m, i))), f32x4.mul(vnb1, g));
    const vi = f32x4.add(f32x4.mul(vb2, v128.load(at(v, i))), f32x4.mul(vnb2, f32x4.mul(g, g)));
    if (decoupled) pi = f32x4.mul(pi, vdecay);
    const den = f32x4.add(f32x4.sqrt(f32x4.mul(vi, vibc2)), veps);
    pi = f32x4.sub(pi, f32x4.div(f32x4.mul(vstep, mi), den));
    v128.store(at(m, i), mi);
    v128.store(at(v, i), vi);
    v128.store(at(p, i), pi);
  }
  // The tail computes exactly what a SIMD lane does (the same f32 constants, the same order), so an element's
  // result does not depend on where a shard starts: an offloaded step split into blocks and threads gives the
  // device step's bits ([Note: blocked offload step] in src/zero/offload/adam-job.ts).
  const nb1: f32 = 1 - b1, nb2: f32 = 1 - b2, decay: f32 = 1 - lr * wd, step: f32 = lr / bc1, ibc2: f32 = 1 / bc2;
  for (; i < n; i++) {
    let pi = load<f32>(at(p, i));
    let g = load<f32>(at(grad, i)) * gradScale;
    if (!decoupled) g = g + wd * pi;
    const mi = b1 * load<f32>(at(m, i)) + nb1 * g;
    const vi = b2 * load<f32>(at(v, i)) + nb2 * (g * g);
    if (decoupled) pi = pi * decay;
    const den = Mathf.sqrt(vi * ibc2) + eps;
    pi = pi - (step * mi) / den;
    store<f32>(at(m, i), mi);
    store<f32>(at(v, i), vi);
    store<f32>(at(p, i), pi);
  }
}
