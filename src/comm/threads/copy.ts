// Byte copies between ranks' device memories (SharedArrayBuffers) and inside one.
// [Note: cross-memory copies] On Node 20.20 `Buffer#copy` is `TypedArray#set` (lib/buffer.js _copyActual), and
// V8 copies between SharedArrayBuffers with relaxed atomics, 8 bytes a step (base::Relaxed_Memcpy). `Buffer#fill`
// with a Buffer value as long as the filled range is one C++ memcpy (node_buffer.cc Fill: copy the value once, then
// double; nothing to double here), i.e. glibc's vectorized memcpy with non-temporal stores for large copies:
// measured 15-30% faster for 64 KiB staging blocks and for whole-chunk all-gather copies. memcpy is undefined for
// overlapping ranges, so this is only for copies between two different memories; inside one memory the reduce
// module's `memory.copy` (a memmove) is used (Reducer#move).

/** Copies `bytes` bytes from src[srcOff..] to dst[dstOff..] (normally views of two different memories). */
export function copyAcross(src: Buffer, srcOff: number, dst: Buffer, dstOff: number, bytes: number): void {
  if (bytes <= 0) return; // fill() refuses an empty value
  if (src.buffer === dst.buffer) {
    // not expected (one memory per rank), but keep memmove semantics if it happens
    src.copy(dst, dstOff, srcOff, srcOff + bytes);
    return;
  }
  dst.fill(src.subarray(srcOff, srcOff + bytes), dstOff, dstOff + bytes);
}
