// `zerots bench offload`: the offloaded optimizer step against the bounds measured in the same run.
// - CPU AdamW (bf16 gradients in, bf16 parameters out, fp32 master/m/v in host arenas, [Note: blocked offload
//   step]) on all threads, against the memory-bandwidth bound: the bytes the update must move per parameter
//   (2 + 12 read, 12 + 2 written) divided into the memcpy traffic (bytes read + written per second) of the same
//   threads over host arenas;
// - the device step (the engine's device placement: one thread, fp32 gradient workspace) on the same parameters:
//   step_ratio_vs_device = offloaded params/s over device params/s;
// - swap I/O (the nvme placement's SwapIO, 2 I/O threads, one file per sub-group, fsync'd) read and write GB/s
//   against a plain file copy (read + write + fsync in 64 MiB chunks) of the same bytes in the same directory.
// Every figure is the median of --repeat runs. Last line: one JSON record.
import { closeSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { wasmApi } from '../kernels/wasm-api.js';
import { Device } from '../tensor/device.js';
import { HostMemory } from '../tensor/host.js';
import { C, H, HEADER_WORDS, TYPE_CODE } from '../zero/offload/adam-job.js';
import { HostThreads } from '../zero/offload/host-threads.js';
import { ResidentStore } from '../zero/offload/sub-group-store.js';
import { SwapIO } from '../zero/offload/swap-io.js';

export interface BenchOffloadOptions {
  params?: number;
  threads?: number;
  repeat?: number;
  nvmePath?: string;
  print?: (line: string) => void;
}

const BYTES_PER_PARAM = 28; // bf16 grad 2 + p, m, v 12 read; p, m, v 12 + bf16 param 2 written
const HYPER = { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(repeat: number, fn: () => void): number[] {
  fn(); // warm-up
  return Array.from({ length: repeat }, () => {
    const t0 = performance.now();
    fn();
    return (performance.now() - t0) / 1000;
  });
}

export async function benchOffload(o: BenchOffloadOptions = {}): Promise<Record<string, unknown>> {
  const print = o.print ?? console.log;
  const N = Math.ceil((o.params ?? 2 ** 24) / 64) * 64;
  const threads = o.threads ?? availableParallelism();
  const repeat = o.repeat ?? 5;
  const sub = Math.min(N, 2 ** 22);
  const host = new HostMemory({ arenaBytes: 2 ** 30, name: 'bench host' });
  const groups = Array.from({ length: Math.ceil(N / sub) }, (_, k) => ({
    index: k,
    start: k * sub,
    end: Math.min(N, (k + 1) * sub),
    runs: [],
  }));
  const store = new ResidentStore(host, groups, 3, threads);
  const pool = new HostThreads(threads);
  // the "device" side: bf16 gradients and parameters
  const dev = new wasmApi.Memory({ initial: Math.ceil((65536 + N * 4) / 65536), maximum: 65536, shared: true });
  const devId = pool.register(dev.buffer as unknown as SharedArrayBuffer);
  new Uint16Array(dev.buffer, 65536, 2 * N).fill(0x3c00);
  const adamPass = () => {
    for (const g of groups) {
      const s = store.acquire(g.index);
      const n = g.end - g.start;
      const job = pool.jobBuffer(1);
      const arena = pool.register(s.view.memory.buffer as unknown as SharedArrayBuffer, s.view.memory);
      job.set([0, arena, s.base, s.stride, s.tmp, 1, HYPER.lr, HYPER.b1, HYPER.b2, HYPER.eps, 1, 0.1, 0.001, 1, n]);
      const row = HEADER_WORDS;
      job.set([n, 0, devId, 65536 + g.start * 2, TYPE_CODE.bf16, devId, 65536 + 2 * N + g.start * 2, 1, 0.01], row);
      pool.run();
    }
  };
  const adamT = time(repeat, adamPass);
  const adamPerS = N / median(adamT);

  // memcpy with the same threads, host arena to host arena
  const copyBytes = Math.min(256 * 2 ** 20, N * 8);
  const [src, dst] = host.allocGroup([
    { bytes: copyBytes, category: 'workspace', label: 'memcpy source' },
    { bytes: copyBytes, category: 'workspace', label: 'memcpy destination' },
  ]) as [ReturnType<HostMemory['alloc']>, ReturnType<HostMemory['alloc']>];
  host.u8(src).fill(1);
  const arenaId = pool.register(host.memoryOf(src).buffer as unknown as SharedArrayBuffer, host.memoryOf(src));
  // the better of a fixed part per thread and chunks claimed as AdamW's are: the bound is the faster memcpy
  const copyT = [0, 1].map((chunked) =>
    time(repeat, () => {
      const job = pool.jobBuffer(0);
      job.fill(0, 0, HEADER_WORDS);
      job[H.Kind] = 1;
      job[C.Src] = arenaId;
      job[C.SrcOff] = src.ptr;
      job[C.Dst] = arenaId;
      job[C.DstOff] = dst.ptr;
      job[C.Chunked] = chunked;
      job[H.Total] = copyBytes;
      pool.run();
    }),
  );
  const memcpyTraffic = (2 * copyBytes) / Math.min(...copyT.map(median)); // bytes read + written per second
  const boundPerS = memcpyTraffic / BYTES_PER_PARAM;

  // the device step: one thread, 16-bit gradients decoded into an fp32 workspace, fused AdamW + bf16 copy
  const dn = Math.min(N, 2 ** 26); // the same parameters (at most 1.3 GiB of device)
  const device = new Device({ capacityBytes: Math.ceil((dn * 20 + (8 << 20)) / 65536) * 65536, name: 'bench device' });
  const [p, ws, m, v, g16, p16] = [4, 4, 4, 4, 2, 2].map((b) => device.alloc(dn * b, 'optimizer', 'bench'));
  device.f32(p!.ptr, dn).fill(0.5);
  new Uint16Array(device.memory.buffer, g16!.ptr, dn).fill(0x3c00);
  const k = device.kernels;
  const devT = time(repeat, () => {
    k.castFromHalf(ws!.ptr, g16!.ptr, dn, 'bf16', false);
    k.adamw(
      p!.ptr,
      ws!.ptr,
      m!.ptr,
      v!.ptr,
      dn,
      HYPER.lr,
      HYPER.b1,
      HYPER.b2,
      HYPER.eps,
      HYPER.wd,
      true,
      0.1,
      0.001,
      1,
      p16!.ptr,
      'bf16',
    );
  });
  const devicePerS = dn / median(devT);

  // swap I/O against a plain file copy, same bytes, same directory
  const dir = mkdtempSync(join(o.nvmePath ?? tmpdir(), 'zerots-bench-offload-'));
  const io = new SwapIO(2);
  const stateBytes = groups.reduce((a, g) => a + 12 * (g.end - g.start), 0);
  const files = groups.map((g) => openSync(join(dir, `subgroup${g.index}.swp`), 'w+'));
  const views = groups.map((g) => {
    const s = store.acquire(g.index);
    return new Uint8Array(s.view.memory.buffer, s.base, 12 * (g.end - g.start));
  });
  const writeT = time(repeat, () => {
    groups.forEach((g, i) => io.submit('write', files[i]!, `subgroup${g.index}`, views[i]!, 0));
    io.drain();
    for (const fd of files) fsyncSync(fd);
  });
  const readT = time(repeat, () => {
    groups.forEach((g, i) => io.submit('read', files[i]!, `subgroup${g.index}`, views[i]!, 0));
    io.drain();
  });
  const srcFile = join(dir, 'copy-source');
  const chunk = new Uint8Array(Math.min(64 * 2 ** 20, stateBytes));
  const fdS = openSync(srcFile, 'w+');
  for (let at = 0; at < stateBytes; at += chunk.length)
    writeSync(fdS, chunk, 0, Math.min(chunk.length, stateBytes - at), at);
  fsyncSync(fdS);
  const copyFileT = time(repeat, () => {
    const fdD = openSync(join(dir, 'copy-destination'), 'w');
    for (let at = 0; at < stateBytes; at += chunk.length) {
      const n = readSync(fdS, chunk, 0, Math.min(chunk.length, stateBytes - at), at);
      writeSync(fdD, chunk, 0, n, at);
    }
    fsyncSync(fdD);
    closeSync(fdD);
  });
  closeSync(fdS);
  for (const fd of files) closeSync(fd);
  io.close();
  rmSync(dir, { recursive: true, force: true });
  pool.close();
  store.dispose();

  const gb = (bytes: number, ts: number[]) => bytes / median(ts) / 1e9;
  const rec = {
    bench: 'offload',
    threads: pool.threads,
    params: N,
    adam_params_per_s: Math.round(adamPerS),
    bandwidth_bound_params_per_s: Math.round(boundPerS),
    ratio: round(adamPerS / boundPerS),
    memcpy_traffic_gbps: round(memcpyTraffic / 1e9),
    device_params_per_s: Math.round(devicePerS),
    nvme_read_gbps: round(gb(stateBytes, readT)),
    nvme_write_gbps: round(gb(stateBytes, writeT)),
    file_copy_gbps: round(gb(stateBytes, copyFileT)),
    step_ratio_vs_device: round(adamPerS / devicePerS),
    // the slower of the swap read and write against the plain file copy of the same bytes (goal >= 0.7)
    swap_vs_copy: round(Math.min(gb(stateBytes, readT), gb(stateBytes, writeT)) / gb(stateBytes, copyFileT)),
  };
  const range = (ts: number[], per: number) =>
    `${(per / Math.max(...ts) / 1e6).toFixed(1)}-${(per / Math.min(...ts) / 1e6).toFixed(1)}`;
  print(`offloaded AdamW, ${pool.threads} threads, ${N} params: ${range(adamT, N)} M params/s (${repeat} runs)`);
  print(
    `memcpy bound (${BYTES_PER_PARAM} B/param at ${rec.memcpy_traffic_gbps} GB/s traffic): ${(boundPerS / 1e6).toFixed(1)} M params/s`,
  );
  print(`device step (1 thread): ${range(devT, dn)} M params/s`);
  print(
    `swap write ${rec.nvme_write_gbps} GB/s, read ${rec.nvme_read_gbps} GB/s; plain file copy ${rec.file_copy_gbps} GB/s`,
  );
  print(
    '(reads of just-written files come from the page cache; the machine may be shared: compare ratios within a run)',
  );
  print(JSON.stringify(rec));
  return rec;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
