// Workspace sizes shared by both backends (the js backend ignores its workspace, but callers size buffers from
// these numbers, so both must report the same).
// [Note: gemm packing] the wasm GEMM packs an MC x KC block of op(A) and a KC x NC block of op(B) into contiguous
// panels (GotoBLAS loop order; KC=128 and MC=64 measured best here, see shared/reference/measured-limits.md).
// The packing buffers live in the device's 'workspace' allocation at `scratch`, never in static wasm data.

export const GEMM_MC = 64;
export const GEMM_KC = 128;
export const GEMM_NC = 512;

/** Bytes the wasm backend needs at `scratch` (packed A block, packed B block, one edge tile, padding). */
export function kernelScratchBytes(): number {
  return GEMM_MC * GEMM_KC * 4 + GEMM_KC * GEMM_NC * 4 + 4096;
}

/** Attention workspace: one [T,T] fp32 matrix (dP in backward), rounded up to 64 bytes. */
export function attentionScratchBytes(_B: number, T: number, _C: number, _nh: number): number {
  return Math.ceil((T * T * 4) / 64) * 64 + 64;
}
