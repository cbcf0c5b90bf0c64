// The optional FFI layer: the `koffi` package (an optionalDependency with prebuilt binaries), loaded lazily and at
// most once per thread. Nothing here is required: every function returns a reason instead of throwing when koffi
// or a library is absent, so callers fall back to wasm / TCP with one line saying why.
// See [Note: native backends] in docs/design-notes.md.
import { createRequire } from 'node:module';

/** The few koffi calls we use (typed structurally: koffi's own .d.ts is not needed to build). */
export interface KoffiLib {
  func(signatureOrName: string, result?: string, params?: string[]): (...args: unknown[]) => unknown;
  symbol(name: string, type: string): unknown;
}
export interface Koffi {
  load(path: string, options?: { global?: boolean }): KoffiLib;
  address(value: unknown): bigint;
  readonly version?: string;
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; reason: string };

let koffi: Loaded<Koffi> | null = null;

/** koffi, or why it cannot be loaded. */
export function loadKoffi(): Loaded<Koffi> {
  if (koffi) return koffi;
  try {
    const req = createRequire(import.meta.url);
    koffi = { ok: true, value: req('koffi') as Koffi };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? String(e);
    koffi = { ok: false, reason: `the optional npm package koffi is not installed or does not load (${msg})` };
  }
  return koffi;
}

/** Opens the first of `candidates` that loads; the reason lists every failure. */
export function openLibrary(candidates: readonly string[], global = false): Loaded<{ lib: KoffiLib; path: string }> {
  const k = loadKoffi();
  if (!k.ok) return k;
  const errors: string[] = [];
  for (const path of candidates) {
    try {
      return { ok: true, value: { lib: k.value.load(path, { global }), path } };
    } catch (e) {
      errors.push(`${path}: ${((e as Error).message.split('\n')[0] ?? '').slice(0, 160)}`);
    }
  }
  return { ok: false, reason: `cannot load ${candidates.join(' or ')} (${errors.join('; ')})` };
}

type AddressOf = (dst: Uint8Array, src: Uint8Array, n: number) => number;
let addressOf: AddressOf | null = null;

/**
 * The process address of byte 0 of a (shared) buffer. libc's memmove(p, p, 0) returns p: a portable way to learn
 * the address koffi passes for a view, once per buffer (a WebAssembly.Memory that never grows keeps its address).
 */
export function baseAddress(buffer: ArrayBufferLike): number {
  if (!addressOf) {
    const libc = openLibrary(['libc.so.6', 'libc.dylib', 'libSystem.dylib']);
    if (!libc.ok) throw new Error(`native: ${libc.reason}`);
    addressOf = libc.value.lib.func('intptr_t memmove(void *dst, void *src, size_t n)') as unknown as AddressOf;
  }
  const view = new Uint8Array(buffer);
  return Number(addressOf(view, view, 0));
}
