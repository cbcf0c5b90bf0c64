// `zerots bench offload`: the offloaded optimizer step against the bounds measured in the same run.
// - CPU AdamW (bf16 gradients in, bf16 parameters out, fp32 master/m/v in host arenas, [Note: blocked offload
//   step]) on all threads, against the memory-bandwidth bound: the bytes the update must move per parameter
//   (2 + 12 read, 12 + 2 written) divided into the memcpy traffic (bytes read + written per second) of the same
//   threads over host arenas, the fastest of three copies, pair by pair ([Note: offload bench bound]);
// - the device step (the engine's device placement: one thread, fp32 gradient workspace) on the same parameters:
//   step_ratio_vs_device = offloaded params/s over device params/s;
// - swap I/O (the nvme placement's SwapIO, 2 I/O threads, one file per sub-group, fsync'd) read and write GB/s
//   against a plain file copy (read + write + fsync in 64 MiB chunks) of the same bytes in the same directory.
// Every figure is the median of --repeat runs (default 7, after a warm-up), with its range. Last line: one JSON record.
import { closeSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { wasmApi } from '../kernels/wasm-api.js';
import { RunQueueMeter, schedSample } from './run-queue.js';
import { Device } from '../tensor/device.js';
import { HostMemory } from '../tensor/host.js';
import { C, COPY_METHOD, H, HEADER_WORDS, TYPE_CODE } from '../zero/offload/adam-job.js';
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
  const repeat = o.repeat ?? 7;
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
  // The memcpy bound: the same threads copy between host arenas in chunks claimed as AdamW's are, three ways
  // (COPY_METHOD in adam-job.ts); the fastest is the bound. TypedArray#set is what the bound was before
  // 2026-12 (kept as bound_set_params_per_s / ratio_vs_set): V8 copies between SharedArrayBuffers 8 bytes a step
  // with ordinary stores, about half what the memory does.
  const copyBytes = Math.min(256 * 2 ** 20, N * 8);
  const [src, dst] = host.allocGroup([
    { bytes: copyBytes, category: 'workspace', label: 'memcpy source' },
    { bytes: copyBytes, category: 'workspace', label: 'memcpy destination' },
  ]) as [ReturnType<HostMemory['alloc']>, ReturnType<HostMemory['alloc']>];
  const host2 = new HostMemory({ arenaBytes: copyBytes + 2 ** 21, name: 'bench host 2' });
  const far = host2.alloc(copyBytes, 'workspace', 'memcpy destination (another memory)');
  host.u8(src).fill(1);
  host.u8(dst).fill(0);
  host2.u8(far).fill(0);
  const srcId = pool.register(host.memoryOf(src).buffer as unknown as SharedArrayBuffer, host.memoryOf(src));
  const farId = pool.register(host2.memoryOf(far).buffer as unknown as SharedArrayBuffer, host2.memoryOf(far));
  const copyJob = (method: number, chunked: number, dstId: number, dstPtr: number) => () => {
    const job = pool.jobBuffer(0);
    job.fill(0, 0, HEADER_WORDS);
    job[H.Kind] = 1;
    job[C.Src] = srcId;
    job[C.SrcOff] = src.ptr;
    job[C.Dst] = dstId;
    job[C.DstOff] = dstPtr;
    job[C.Chunked] = chunked;
    job[C.Method] = method;
    job[H.Total] = copyBytes;
    pool.run();
  };
  const copies = {
    set: copyJob(COPY_METHOD.set, 1, srcId, dst.ptr),
    set_fixed: copyJob(COPY_METHOD.set, 0, srcId, dst.ptr), // the old bound took the better of the two
    memcpy: copyJob(COPY_METHOD.memcpy, 1, farId, far.ptr),
    wasm: copyJob(COPY_METHOD.wasm, 1, srcId, dst.ptr),
  };
  // AdamW and the copies pair by pair (A, copies, A, copies, ...) after a warm-up round, so a drift in the machine's
  // speed hits both sides of each ratio; the run-queue meter says how busy the machine was during the AdamW passes.
  const adamT: number[] = [];
  const copyT: Record<keyof typeof copies, number[]> = { set: [], set_fixed: [], memcpy: [], wasm: [] };
  const queue = new RunQueueMeter();
  for (let r = 0; r <= repeat; r++) {
    const s0 = schedSample();
    const t0 = performance.now();
    adamPass();
    const t1 = performance.now();
    if (r > 0) {
      queue.add(s0, schedSample(), (t1 - t0) * 1e6);
      adamT.push((t1 - t0) / 1000);
    }
    for (const [name, run] of Object.entries(copies)) {
      const c0 = performance.now();
      run();
      if (r > 0) copyT[name as keyof typeof copies].push((performance.now() - c0) / 1000);
    }
  }
  const traffic = (ts: number[]) => (2 * copyBytes) / median(ts); // bytes read + written per second
  const setT = median(copyT.set) <= median(copyT.set_fixed) ? copyT.set : copyT.set_fixed;
  const byMethod = { set: traffic(setT), memcpy: traffic(copyT.memcpy), wasm: traffic(copyT.wasm) };
  const fastest = (Object.keys(byMethod) as (keyof typeof byMethod)[]).reduce((a, b) =>
    byMethod[b] > byMethod[a] ? b : a,
  );
  const fastT = fastest === 'set' ? setT : copyT[fastest];
  const memcpyTraffic = byMethod[fastest];
  const adamPerS = N / median(adamT);
  const boundPerS = memcpyTraffic / BYTES_PER_PARAM;
  // pair by pair: run r's AdamW rate over run r's fastest-method copy rate
  const ratios = adamT.map((t, r) => N / t / ((2 * copyBytes) / fastT[r]! / BYTES_PER_PARAM));
  const setBoundPerS = byMethod.set / BYTES_PER_PARAM;

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
  host2.free(far);

  const gb = (bytes: number, ts: number[]) => bytes / median(ts) / 1e9;
  const waitShare = queue.share();
  const rec = {
    bench: 'offload',
    threads: pool.threads,
    params: N,
    adam_params_per_s: Math.round(adamPerS),
    bandwidth_bound_params_per_s: Math.round(boundPerS),
    // median of the per-run ratios (each AdamW pass against the copies right after it)
    ratio: round(median(ratios)),
    ratio_range: [round(Math.min(...ratios)), round(Math.max(...ratios))],
    adam_params_per_s_range: [Math.round(N / Math.max(...adamT)), Math.round(N / Math.min(...adamT))],
    memcpy_traffic_gbps: round(memcpyTraffic / 1e9),
    memcpy_method: fastest,
    copy_traffic_gbps: Object.fromEntries(Object.entries(byMethod).map(([k, v]) => [k, round(v / 1e9)])),
    bound_set_params_per_s: Math.round(setBoundPerS),
    ratio_vs_set: round(adamPerS / setBoundPerS),
    // share of the stepping threads' time spent waiting for a core during the AdamW passes (Linux; null elsewhere)
    runqueue_wait_share: waitShare === null ? null : round(waitShare),
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
  const M = (x: number) => (x / 1e6).toFixed(1);
  print(
    `offloaded AdamW, ${pool.threads} threads, ${N} params: ${range(adamT, N)} M params/s, median ${M(adamPerS)} ` +
      `(${repeat} runs)`,
  );
  print(
    `memcpy bound (${BYTES_PER_PARAM} B/param, same threads, host arenas; traffic GB/s: set ${rec.copy_traffic_gbps.set}, ` +
      `memcpy ${rec.copy_traffic_gbps.memcpy}, wasm ${rec.copy_traffic_gbps.wasm}): ${M(boundPerS)} M params/s (${fastest})`,
  );
  print(
    `ratio ${rec.ratio} (pair by pair ${rec.ratio_range[0]}-${rec.ratio_range[1]}); against the TypedArray#set bound ` +
      `(${M(setBoundPerS)} M params/s, the bound before 2026-12) ${rec.ratio_vs_set}`,
  );
  if (waitShare !== null)
    print(
      `the stepping threads waited for a core ${(100 * waitShare).toFixed(1)}% of their time during the AdamW passes ` +
        '(a busy machine when above a few %)',
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
