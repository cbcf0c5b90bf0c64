// TCP faults, 3 processes each: a rank killed, throwing, frozen (SIGSTOP: only the heartbeat can tell), late past
// the timeout, or calling another collective; and strangers knocking on the store during a job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProcessWorld } from '../../src/launch/processes.js';
import type { RankOutcome } from '../../src/launch/processes.js';
import type { Seen } from '../ranks/tcp-faults.js';

const fixture = new URL('../ranks/tcp-faults.js', import.meta.url);

function world(fn: string, args: unknown) {
  return startProcessWorld<Seen>({ worldSize: 3, module: fixture, fn, args, timeoutMs: 40_000, stdio: 'ignore' });
}

function survivors(outs: RankOutcome<Seen>[]): Seen[] {
  return outs
    .filter((o) => o.rank !== 1)
    .map((o) => {
      assert.ok(o.ok, `rank ${o.rank} failed instead of reporting: ${!o.ok ? o.error.message : ''}`);
      return (o as { value: Seen }).value;
    });
}

// Started first: its peers need ~6 s of silence to give up, which overlaps the other tests.
const frozen = world('fault', 'stop');

for (const mode of ['kill', 'throw'] as const) {
  test(`tcp: a rank that ${mode === 'kill' ? 'is killed' : 'throws'} makes every peer fail with PeerLostError naming it`, {
    timeout: 60_000,
  }, async () => {
    const w = world('fault', mode);
    const outs = await w.outcomes;
    for (const s of survivors(outs)) {
      assert.equal(s.name, 'PeerLostError', s.message);
      assert.equal(s.lostRank, 1);
      assert.match(s.message, /rank 1 /);
      assert.ok(s.ms < 10_000, `noticed after ${s.ms} ms`);
    }
    const root = await w.results.then(
      () => null,
      (e: Error) => e,
    );
    assert.equal(root?.name, 'PeerLostError');
    assert.match(
      root!.message,
      mode === 'throw' ? /rank 1 failed: Error: boom from rank 1/ : /rank 1 was killed by SIGKILL/,
    );
  });
}

test('tcp: a frozen rank (SIGSTOP) is found by the heartbeat within 10 s', { timeout: 60_000 }, async () => {
  for (const s of survivors(await frozen.outcomes)) {
    assert.equal(s.name, 'PeerLostError', s.message);
    assert.equal(s.lostRank, 1);
    assert.match(s.message, /no heartbeat/);
    // a stopped rank closed nothing: say what it is (issue 14 item 7)
    assert.match(s.message, /stopped answering/);
    assert.doesNotMatch(s.message, /closed its connection/);
    assert.ok(s.ms < 10_000, `noticed after ${s.ms} ms`);
  }
});

test('tcp: a late rank makes the others time out with CollectiveTimeoutError(op, rank, seq)', {
  timeout: 60_000,
}, async () => {
  const outs = await world('fault', 'timeout').outcomes;
  for (const s of survivors(outs)) {
    assert.equal(s.name, 'CollectiveTimeoutError', s.message);
    assert.deepEqual([s.op, s.errRank, s.seq], ['all_reduce', s.rank, 1]); // seq 0 was the setup's all-gather
    // one survivor times out first and tells the other, which gives up with it
    assert.match(
      s.message,
      /waited more than \d+ ms in all_reduce\(count=1000, f32, sum\) \(sequence number 1\) for rank 1;/,
    );
  }
  const late = outs[1]!;
  assert.ok(late.ok);
  // the late rank finds its peers gone (they gave up), instead of waiting for its own timeout
  assert.equal((late as { value: Seen }).value.name, 'PeerLostError');
});

test('tcp: different collectives at one seq fail every rank with CollectiveMismatchError', {
  timeout: 60_000,
}, async () => {
  const outs = await world('fault', 'mismatch').outcomes;
  for (const o of outs) {
    assert.ok(o.ok);
    const s = (o as { value: Seen }).value;
    assert.equal(s.name, 'CollectiveMismatchError', s.message);
    assert.match(s.message, /all_reduce\(count=1000, f32, max\)/);
  }
});

test('tcp: malformed and unauthenticated connections to the store do not disturb the job', {
  timeout: 60_000,
}, async () => {
  const outs = await world('intruders', null).results;
  for (const s of outs) assert.deepEqual(s.sum, [6, 6]);
});
