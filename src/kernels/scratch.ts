// Workspace sizes shared by both backends (the js backend ignores its workspace, but callers size buffers from
// these numbers, so both must report the same).
// [Note: gemm packing] the wasm GEMM packs an MC x KC block of op(A) into MR-row panels and all of K for up to
// NC columns of op(B) into NR-column panels (at most GEMM_BPACK floats), then runs a 6x8 register tile over them
// (see src/kernels/assembly/_gemm.ts and src/kernels/README.md). The packing buffers live in the
// device's 'workspace' allocation at `scratch`, never in static wasm data. Keep these equal to the constants there.

export const GEMM_MC = 72;
export const GEMM_KC = 128;
export const GEMM_NC = 512;
export const GEMM_BPACK = 1 << 19;

/** Bytes the wasm backend needs at `scratch` (packed A block, packed B panels, one edge tile, padding). */
export function kernelScratchBytes(): number {
  return GEMM_MC * GEMM_KC * 4 + GEMM_BPACK * 4 + 4096;
}

/** Attention workspace: one [T,T] fp32 matrix (dP in backward), rounded up to 64 bytes. */
export function attentionScratchBytes(_B: number, T: number, _C: number, _nh: number): number {
  return Math.ceil((T * T * 4) / 64) * 64 + 64;
}

/** Rows of queries per block of the fused attention (RB in assembly/_flash.ts). */
export const FLASH_ROWS = 64;

/** Fused attention workspace: P and dP of one block of query rows, 2 x min(64, T) x T fp32, rounded up to 64 bytes. */
export function flashAttentionScratchBytes(_B: number, T: number, _C: number, _nh: number): number {
  return Math.ceil((2 * Math.min(FLASH_ROWS, T) * T * 4) / 64) * 64 + 64;
}
