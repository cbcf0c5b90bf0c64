// [Note: exact norm exchange] The global gradient norm must not depend on how the gradients are partitioned, or
// stages would clip differently: with bf16 weights a last-bit difference in the clipping coefficient grows into
// visibly different losses within tens of steps. Each rank sums the squares of its own segments in f64; summing
// those partials in an f32 all-reduce would round them (1 ulp of f32 is 6e-8), so instead every rank writes its f64
// partial, split into four 16-bit integers (exact in f32; adding zeros keeps them exact), into its own slots of one
// scalar all-reduce, which thereby acts as an all-gather. Every rank then adds the N partials in f64 in rank order:
// the same bits on every rank, and equal to one process's f64 sum up to f64 rounding (1e-16), far below what the
// f32 clipping coefficient can resolve. Non-finite partials (fp16 overflow, a rank's local failure) go to one
// shared slot, so every rank sees the overflow. The same all-reduce carries each rank's bucket-reduction order
// signature (< 2^20, exact in f32), so a rank whose backward ran other modules is named.

const SLOTS_PER_RANK = 5;
const bytes = new DataView(new ArrayBuffer(8));

/** Scalars the norm all-reduce carries for `worldSize` ranks. */
export function normSlots(worldSize: number): number {
  return SLOTS_PER_RANK * worldSize + 1;
}

/** Fills `s` (normSlots(worldSize) floats) with this rank's partial sum of squares and order signature. */
export function writeNormSlots(
  s: Float32Array,
  rank: number,
  worldSize: number,
  partial: number,
  signature: number,
): void {
  s.fill(0);
  const base = rank * SLOTS_PER_RANK;
  if (Number.isFinite(partial)) {
    bytes.setFloat64(0, partial, true);
    for (let i = 0; i < 4; i++) s[base + i] = bytes.getUint16(2 * i, true);
  } else {
    s[SLOTS_PER_RANK * worldSize] = partial;
  }
  s[base + 4] = signature;
}

/** The global sum of squares (f64, rank order; non-finite when any rank's was) and every rank's signature. */
export function readNormSlots(s: Float32Array, worldSize: number): { sumSq: number; signatures: number[] } {
  let sumSq = 0;
  const signatures: number[] = [];
  for (let r = 0; r < worldSize; r++) {
    const base = r * SLOTS_PER_RANK;
    for (let i = 0; i < 4; i++) bytes.setUint16(2 * i, s[base + i]!, true);
    sumSq += bytes.getFloat64(0, true);
    signatures.push(s[base + 4]!);
  }
  return { sumSq: sumSq + s[SLOTS_PER_RANK * worldSize]!, signatures };
}
