// Faults on threads: mismatched collectives, a per-collective timeout, and ranks that throw, exit, return early,
// fail before joining, or are killed while peers wait; every case ends in the named error, never a hang (each
// test's own timeout is the hang guard: 10 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CollectiveTimeoutError, PeerLostError } from '../../src/errors.js';
import { spawnWorld } from '../../src/launch/spawn.js';
import { startThreads } from '../../src/launch/threads.js';
import type { LostArgs } from '../ranks/faults.js';

const fixture = new URL('../ranks/faults.js', import.meta.url);

test('mismatched collectives fail on every rank with CollectiveMismatchError naming both calls', {
  timeout: 10_000,
}, async () => {
  type Stats = { count: number; bytesSent: number; bytesReceived: number; payloadBytes: number; seconds: number };
  const results = await spawnWorld<{
    scenarios: Record<string, { name: string; message: string } | null>;
    after: number[];
    log: Record<string, Stats>;
    totalSent: number;
  }>({
    worldSize: 3,
    module: fixture,
    fn: 'mismatches',
  });
  // comm log: counts, payloads, and bytes moved as a ring would: all-reduce 2(N-1)/N S per rank (summed over
  // ranks: 2(N-1) S), reduce-scatter and all-gather (N-1)/N S each
  const S = 12000,
    N = 3;
  const sum = (op: string, k: 'bytesSent' | 'bytesReceived'): number => results.reduce((t, r) => t + r.log[op]![k], 0);
  for (const op of ['all_reduce', 'reduce_scatter', 'all_gather']) {
    const factor = op === 'all_reduce' ? 2 * (N - 1) : N - 1;
    assert.equal(sum(op, 'bytesSent'), factor * S, op);
    assert.equal(sum(op, 'bytesReceived'), factor * S, op);
  }
  for (const r of results) {
    assert.deepEqual(
      [
        r.log.all_reduce!.count,
        r.log.reduce_scatter!.count,
        r.log.all_gather!.count,
        r.log.barrier!.count,
        r.log.broadcast!.count,
      ],
      [1, 1, 1, 1, 0],
    );
    assert.deepEqual(
      [r.log.all_reduce!.payloadBytes, r.log.reduce_scatter!.payloadBytes, r.log.all_gather!.payloadBytes],
      [S, S, S],
    );
    assert.equal(r.log.reduce_scatter!.bytesReceived, ((N - 1) * S) / N);
    assert.ok(r.log.all_reduce!.seconds > 0);
    assert.equal(
      r.totalSent,
      r.log.all_reduce!.bytesSent + r.log.reduce_scatter!.bytesSent + r.log.all_gather!.bytesSent,
    );
  }
  const expected: Record<string, [string, string]> = {
    size: ['all_reduce(count=10, f32, sum)', 'all_reduce(count=12, f32, sum)'],
    dtype: ['all_reduce(count=12, bf16, sum)', 'all_reduce(count=12, f16, sum)'],
    reduceOp: ['all_reduce(count=12, f32, sum)', 'all_reduce(count=12, f32, max)'],
    root: ['broadcast(count=12, f32, root=0)', 'broadcast(count=12, f32, root=1)'],
    collective: ['all_reduce(count=12, f32, sum)', 'barrier()'],
  };
  for (const [rank, r] of results.entries()) {
    for (const [name, [call0, callOther]] of Object.entries(expected)) {
      const c = r.scenarios[name];
      assert.equal(c?.name, 'CollectiveMismatchError', `rank ${rank} ${name}: ${JSON.stringify(c)}`);
      assert.ok(c.message.includes(call0) && c.message.includes(callOther), `rank ${rank} ${name}: ${c.message}`);
    }
    // rank 0's own arguments were refused: it gets the reason, the others a mismatch naming rank 0
    const inv = r.scenarios.invalid!;
    if (rank === 0) assert.match(`${inv.name}: ${inv.message}`, /ShapeError: .*not a view of rank 0's device memory/);
    else
      assert.match(
        `${inv.name}: ${inv.message}`,
        /CollectiveMismatchError: .*rank 0 called a call its own arguments check refused/,
      );
    assert.match(
      `${r.scenarios.partition!.name}: ${r.scenarios.partition!.message}`,
      /ShapeError: .*worldSize \* output.length/,
    );
    assert.deepEqual(r.after, [3, 3, -3]);
  }
});

for (const progressThread of [false, true]) {
  test(`a late rank: CollectiveTimeoutError names op, rank and sequence number; the late rank then sees the peer ` +
    `lost${progressThread ? ' (async on progress threads)' : ''}`, {
    timeout: 10_000,
  }, async () => {
    const [r0, r1] = await spawnWorld<{
      first: { name: string; op?: string; rank?: number; seq?: number; lostRank?: number; message: string } | null;
      next: { name: string } | null;
    }>({
      worldSize: 2,
      module: fixture,
      fn: 'lateRank',
      args: { progressThread },
    });
    assert.equal(r0!.first?.name, 'CollectiveTimeoutError');
    assert.deepEqual([r0!.first!.op, r0!.first!.rank, r0!.first!.seq], ['all_reduce', 0, 1]);
    assert.match(
      r0!.first!.message,
      /rank 0 waited more than 300 ms in all_reduce\(count=8, f32, sum\) \(sequence number 1\)/,
    );
    assert.equal(r1!.first?.name, 'PeerLostError');
    assert.equal(r1!.first!.lostRank, 0);
    // both groups are broken afterwards
    assert.equal(r0!.next?.name, 'StateError');
    assert.equal(r1!.next?.name, 'StateError');
  });
}

async function lose(
  how: LostArgs['how'],
  worldSize: number,
  lost: number,
  kill = false,
  progressThread = false,
): Promise<{ err: unknown; rec: Int32Array }> {
  const record = new SharedArrayBuffer(8 * worldSize);
  const rec = new Int32Array(record);
  const args: LostArgs = { record, lost, how, progressThread };
  let err: unknown = null;
  if (kill) {
    const world = startThreads({ worldSize, module: fixture.href, fn: 'loseRank', args });
    // wait until every survivor is inside the collective, then kill the hanging rank
    while ([...Array(worldSize).keys()].some((r) => r !== lost && Atomics.load(rec, worldSize + r) === 0)) {
      await new Promise((res) => setTimeout(res, 10));
    }
    await world.kill(lost);
    await world.results.catch((e: unknown) => {
      err = e;
    });
  } else {
    await spawnWorld({ worldSize, module: fixture, fn: 'loseRank', args }).catch((e: unknown) => {
      err = e;
    });
  }
  return { err, rec };
}

function assertLost(err: unknown, rec: Int32Array, worldSize: number, lost: number, message: RegExp): void {
  assert.ok(err instanceof PeerLostError, `expected PeerLostError, got ${String(err)}`);
  assert.equal(err.lostRank, lost);
  assert.match(err.message, message);
  for (let r = 0; r < worldSize; r++)
    if (r !== lost) assert.equal(rec[r], lost + 1, `rank ${r} should have caught PeerLostError naming rank ${lost}`);
}

test('a rank that throws mid-run: peers get PeerLostError, spawnWorld rejects naming it', {
  timeout: 10_000,
}, async () => {
  const { err, rec } = await lose('throw', 3, 1);
  assertLost(err, rec, 3, 1, /rank 1 threw an error: Error: boom from rank 1/);
});

test('a rank that throws while peers wait on an async all-reduce run by their progress threads', {
  timeout: 10_000,
}, async () => {
  const { err, rec } = await lose('throw', 3, 0, false, true);
  assertLost(err, rec, 3, 0, /rank 0 threw an error: Error: boom from rank 0/);
});

test('a rank that calls process.exit mid-run', { timeout: 10_000 }, async () => {
  const { err, rec } = await lose('exit', 3, 2);
  assertLost(err, rec, 3, 2, /rank 2 exited .*code 7/);
});

test('a rank that returns without joining the collective', { timeout: 10_000 }, async () => {
  const { err, rec } = await lose('return', 2, 0);
  assertLost(err, rec, 2, 0, /rank 0 finished its function without joining/);
});

test('a rank that fails before joining the group', { timeout: 10_000 }, async () => {
  const { err, rec } = await lose('throw-before-join', 4, 3);
  assertLost(err, rec, 4, 3, /rank 3 threw an error: Error: boom from rank 3 before joining/);
});

test('a rank that returns without ever joining while others wait to join', { timeout: 10_000 }, async () => {
  const { err, rec } = await lose('return-before-join', 3, 1);
  assertLost(err, rec, 3, 1, /rank 1 finished its function/);
});

test('initProcessGroup times out when a rank never joins; a bad scratch is refused', { timeout: 10_000 }, async () => {
  const [r0] = await spawnWorld<{ name: string; op?: string; rank?: number; message: string } | null>({
    worldSize: 2,
    module: fixture,
    fn: 'joinTimeout',
  });
  assert.equal(r0?.name, 'CollectiveTimeoutError');
  assert.equal(r0!.op, 'init');
  assert.match(r0!.message, /rank 0 waited more than 300 ms in initProcessGroup/);
});

test('a rank killed (worker.terminate) while peers wait in a collective', { timeout: 10_000 }, async () => {
  const { err, rec } = await lose('hang', 2, 1, true);
  assertLost(err, rec, 2, 1, /rank 1 exited/);
});

test('spawnWorld refuses a missing export and bad options', { timeout: 10_000 }, async () => {
  await assert.rejects(spawnWorld({ worldSize: 1, module: fixture, fn: 'nope' }), /no exported function 'nope'/);
  await assert.rejects(
    spawnWorld({ worldSize: 0, module: fixture, fn: 'mismatches' }),
    /worldSize must be an integer >= 1/,
  );
  await assert.rejects(
    spawnWorld({ worldSize: 2, module: fixture, fn: 'mismatches', args: { f: () => 1 } }),
    /structured-cloneable/,
  );
});

test('a world past its timeoutMs is stopped', { timeout: 10_000 }, async () => {
  const record = new SharedArrayBuffer(16);
  await assert.rejects(
    spawnWorld({
      worldSize: 2,
      module: fixture,
      fn: 'loseRank',
      args: { record, lost: 0, how: 'hang' },
      timeoutMs: 500,
    }),
    (e: unknown) => e instanceof CollectiveTimeoutError && /did not finish within 500 ms/.test(e.message),
  );
});
