// Deterministic, counter-based parameter initialisation.
// [Note: shard-local init] every element's initial value is a pure function of (seed, parameter name, element
// index): a hash of the three gives two uniforms, Box-Muller turns them into a normal. So a rank that owns
// elements [start, end) of a parameter computes exactly the values a single process would, without generating
// the elements before `start` (what a sequential RNG would force).

/** How a parameter starts: GPT-2 uses normal(0, std) for weights, zeros for biases, ones for LN gains. */
export type InitSpec =
  | { kind: 'normal'; std: number }
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'uniform'; bound: number };

// lowbias32 (Chris Wellons' hash prospector): a bijective 32-bit mixer with low bias.
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** 32-bit FNV-1a of a name, then mixed. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h >>> 0);
}

/** Uniform in (0, 1) for counter (key, i, lane); i may be any index below 2^53. */
function uniform(key: number, i: number, lane: number): number {
  const lo = i >>> 0;
  const hi = Math.floor(i / 4294967296) >>> 0;
  const h = mix32(mix32(mix32(key ^ lo) ^ Math.imul(hi, 0x9e3779b9)) ^ (lane + 0x632be5ab));
  return ((h >>> 8) + 0.5) / 16777216;
}

/** Fills out[j] with element (start + j) of the initial value of the parameter named `name`. */
export function initInto(spec: InitSpec, seed: number, name: string, out: Float32Array, start: number): void {
  switch (spec.kind) {
    case 'zeros':
      out.fill(0);
      return;
    case 'ones':
      out.fill(1);
      return;
    case 'uniform': {
      const key = mix32((seed >>> 0) ^ hashName(name));
      for (let j = 0; j < out.length; j++) out[j] = (2 * uniform(key, start + j, 0) - 1) * spec.bound;
      return;
    }
    case 'normal': {
      const key = mix32((seed >>> 0) ^ hashName(name));
      for (let j = 0; j < out.length; j++) {
        const u1 = uniform(key, start + j, 0);
        const u2 = uniform(key, start + j, 1);
        out[j] = spec.std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      }
      return;
    }
  }
}
