// The threaded host step under stress. HostThreads.run() publishes a job's sequence number and then notifies; a
// worker can see the number, do its part and go back to sleep before that notify lands, and the notify then wakes it
// with no new job ([Note: a wake-up is not a job] in docs/design-notes.md: before the fix the worker ran its part a
// second time, AdamW applied twice to its elements, 1 job in ~10^5 under load; now that threads claim chunks, such a
// re-run shows as a claim). Here: a wake-up alone runs nothing, and thousands of jobs (small and large, bf16 and
// fp32, odd offsets, a job buffer that grows), with such stray wake-ups between them, on 2 and 3 threads give the
// bits the same jobs give on one thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostMemory, type HostAllocation } from '../../src/tensor/host.js';
import { HostThreads } from '../../src/zero/offload/host-threads.js';
import { CHUNK_ELEMENTS, HEADER_WORDS, ROW_WORDS, TMP_BYTES, TYPE_CODE } from '../../src/zero/offload/adam-job.js';
import { xorshift32 } from '../helpers/xorshift.js';

const N = 3 * CHUNK_ELEMENTS + 1000; // elements of the sub-group: every thread claims chunks of the large jobs
const CTRL = 4; // control words per worker in HostThreads

/** A late notify, as run() can deliver one: wakes every worker without publishing a job. */
function strayWake(pool: HostThreads): void {
  const ctrl = (pool as unknown as { ctrl: Int32Array }).ctrl;
  for (let w = 0; w + 1 < pool.threads; w++) Atomics.notify(ctrl, w * CTRL);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

interface Bench {
  host: HostMemory;
  sab: SharedArrayBuffer;
  mem: ReturnType<HostMemory['memoryOf']>;
  ref: HostAllocation;
  got: HostAllocation;
  tmp1: HostAllocation;
  tmpN: HostAllocation;
  grads: HostAllocation;
  out1: HostAllocation;
  outN: HostAllocation;
  uniform: () => number;
}

function bench(threads: number, seed: number): Bench {
  const host = new HostMemory({ arenaBytes: 8 << 20 });
  const [ref, got, tmp1, tmpN, grads, out1, outN] = host.allocGroup([
    { bytes: 3 * N * 4, category: 'optimizer' },
    { bytes: 3 * N * 4, category: 'optimizer' },
    { bytes: TMP_BYTES, category: 'workspace' },
    { bytes: threads * TMP_BYTES, category: 'workspace' },
    { bytes: N * 4, category: 'grad' },
    { bytes: N * 4, category: 'param' },
    { bytes: N * 4, category: 'param' },
  ]) as HostAllocation[];
  const rnd = xorshift32(seed);
  const uniform = () => rnd() / 2 ** 32 - 0.5;
  const mem = host.memoryOf(ref!);
  const sab = mem.buffer as SharedArrayBuffer;
  const b = { host, sab, mem, ref: ref!, got: got!, tmp1: tmp1!, tmpN: tmpN!, grads: grads!, out1: out1! };
  const out = { ...b, outN: outN!, uniform };
  new Float32Array(sab, ref!.ptr, N).forEach((_, i, a) => (a[i] = uniform()));
  new Float32Array(sab, got!.ptr, 3 * N).set(new Float32Array(sab, ref!.ptr, 3 * N));
  return out;
}

/** Writes one AdamW job over [0, total) of the sub-group, cut into runs at `bounds`, and runs it. */
function runJob(pool: HostThreads, id: number, b: Bench, mine: boolean, bounds: number[], type: number, j: number) {
  const eb = type === TYPE_CODE.f32 ? 4 : 2;
  const job = pool.jobBuffer(bounds.length - 1);
  const state = mine ? b.got : b.ref;
  const out = mine ? b.outN : b.out1;
  job.set([0, id, state.ptr, N, (mine ? b.tmpN : b.tmp1).ptr, bounds.length - 1, 1e-3, 0.9, 0.95, 1e-8], 0);
  job.set([1, 0.5, 0.25, 1 / (1 + (j % 4)), bounds[bounds.length - 1]!], 10);
  for (let r = 0; r + 1 < bounds.length; r++) {
    const [from, to] = [bounds[r]!, bounds[r + 1]!];
    const row = [to - from, from, id, b.grads.ptr + from * eb, type, id, out.ptr + from * eb, type, 0.1];
    job.set(row, HEADER_WORDS + r * ROW_WORDS);
  }
  pool.run();
}

function fillGrads(b: Bench, type: number): void {
  const gf = new Float32Array(b.sab, b.grads.ptr, N);
  const gh = new Uint16Array(b.sab, b.grads.ptr, N);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < N; i++) {
    f[0] = b.uniform() * 1e-2;
    if (type === TYPE_CODE.f32) gf[i] = f[0];
    else gh[i] = bits[0]! >>> 16;
  }
}

function assertSame(b: Bench, tag: string, outBytes: number): void {
  const a = new Float32Array(b.sab, b.ref.ptr, 3 * N);
  const c = new Float32Array(b.sab, b.got.ptr, 3 * N);
  for (let i = 0; i < 3 * N; i++)
    if (!Object.is(a[i], c[i])) assert.fail(`${tag}: buffer ${Math.floor(i / N)} element ${i % N} differs`);
  const o1 = new Uint8Array(b.sab, b.out1.ptr, outBytes);
  const oN = new Uint8Array(b.sab, b.outN.ptr, outBytes);
  assert.deepEqual(oN, o1, `${tag}: the 16-bit/fp32 parameter copies`);
}

test('host threads: a wake-up without a new job runs nothing', () => {
  const b = bench(2, 3);
  const one = new HostThreads(1);
  const two = new HostThreads(2);
  try {
    fillGrads(b, TYPE_CODE.f32);
    runJob(one, one.register(b.sab, b.mem), b, false, [0, N], TYPE_CODE.f32, 0);
    runJob(two, two.register(b.sab, b.mem), b, true, [0, N], TYPE_CODE.f32, 0);
    assertSame(b, 'one job', N * 4);
    // every thread that runs a job claims chunks until none is left, so a thread that took a wake-up for a job
    // would move the claim counter even when it finds nothing left to do
    const claims = () => Atomics.load((two as unknown as { chunks: Int32Array }).chunks, 0);
    sleep(50); // the worker is asleep again
    const before = claims();
    strayWake(two);
    sleep(200); // long enough for a worker that takes the wake-up for a job to run it again
    assert.equal(claims(), before, 'no thread ran anything after the stray wake-up');
    assertSame(b, 'after a stray wake-up', N * 4);
  } finally {
    one.close();
    two.close();
  }
});

for (const threads of [2, 3])
  test(`host threads: 3000 jobs with stray wake-ups on ${threads} threads equal the same jobs on one thread`, () => {
    const b = bench(threads, 11 + threads);
    const rnd = xorshift32(7 * threads);
    const one = new HostThreads(1);
    const many = new HostThreads(threads);
    try {
      const ids = [one.register(b.sab, b.mem), many.register(b.sab, b.mem)];
      for (let j = 0; j < 3000; j++) {
        const type = (j >> 4) % 3 === 0 ? TYPE_CODE.f32 : TYPE_CODE.bf16;
        if (j % 16 === 0) fillGrads(b, type);
        // mostly tiny jobs (done in microseconds: the window of the late notify), some of two chunks (the worker
        // takes one), some large ones with many runs (the job buffer starts at 256 rows)
        const large = j % 97 === 0;
        const total = large ? N : j % 5 === 0 ? CHUNK_ELEMENTS + 1 + (rnd() % 3000) : 16 + (rnd() % 160);
        const rows = large ? 300 : 1 + (rnd() % 4);
        const cuts = Array.from({ length: rows - 1 }, () => rnd() % total).sort((x, y) => x - y);
        const bounds = [0, ...cuts, total];
        runJob(one, ids[0]!, b, false, bounds, type, j);
        runJob(many, ids[1]!, b, true, bounds, type, j);
        if (j % 2 === 0) strayWake(many);
        if (large || j % 50 === 0) assertSame(b, `job ${j}`, N * 2);
      }
      assertSame(b, 'the end', N * 2);
    } finally {
      one.close();
      many.close();
    }
  });
