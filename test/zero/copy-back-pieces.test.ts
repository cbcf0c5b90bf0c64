// The offloaded step's copy-back pieces for a streamed parameter shard: every run element lands in exactly one
// piece, at its own place; each piece is contiguous in the shard and at most windowElements long; a target without
// windows gets the sub-group whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyBackPieces } from '../../src/zero/offload/copy-back-pieces.js';
import type { FlatStorage } from '../../src/zero/host-flat.js';
import type { SubGroup, SubGroupRun } from '../../src/zero/offload/sub-groups.js';

// two buckets whose segments sit at shard offsets 0 and 100; runs: 0..30, 30..70 (bucket 0), then 100..125,
// 130..190 (bucket 1, a gap of 5 between its runs)
const SHARD_OFFSET = [0, 100];
const runs: SubGroupRun[] = [
  { bucket: 0, segmentStart: 0, offset: 0, length: 30, param: 0, paramStart: 0 },
  { bucket: 0, segmentStart: 30, offset: 30, length: 40, param: 1, paramStart: 0 },
  { bucket: 1, segmentStart: 0, offset: 100, length: 25, param: 2, paramStart: 7 },
  { bucket: 1, segmentStart: 30, offset: 130, length: 60, param: 3, paramStart: 0 },
];
const g: SubGroup = { index: 0, start: 0, end: 190, runs };

function target(buf: Partial<FlatStorage>) {
  return { segmentParam: (b: number) => ({ buf: buf as FlatStorage, offset: SHARD_OFFSET[b]! }) };
}

test('copy-back pieces: contiguous, at most a window, covering every run element once', () => {
  const opened: [number, number, boolean][] = [];
  const buf = {
    windowElements: 32,
    openRange: (o: number, n: number, w: boolean) => void opened.push([o, n, w]),
    closeRanges: () => {},
  };
  const pieces = copyBackPieces(g, target(buf));
  const seen = new Map<number, number>(); // shard element -> sub-group offset
  for (const p of pieces) {
    p.open();
    const [from, n, overwrite] = opened.at(-1)!;
    assert.ok(overwrite && n <= 32, `a window of ${n} elements, overwritten`);
    let at = from;
    for (const r of p.group.runs) {
      const shardAt = SHARD_OFFSET[r.bucket]! + r.segmentStart;
      assert.equal(shardAt, at, 'runs follow one another in the shard');
      for (let i = 0; i < r.length; i++) {
        assert.ok(!seen.has(shardAt + i), `element ${shardAt + i} in one piece only`);
        seen.set(shardAt + i, r.offset + i);
      }
      at += r.length;
    }
    assert.equal(at, from + n, 'the window is exactly the runs');
  }
  assert.equal(seen.size, 30 + 40 + 25 + 60);
  for (const r of runs)
    for (let i = 0; i < r.length; i++)
      assert.equal(seen.get(SHARD_OFFSET[r.bucket]! + r.segmentStart + i), r.offset + i);
  // a split run keeps its parameter coordinates: param 3's second piece starts where its first ended
  const p3 = pieces.flatMap((p) => p.group.runs).filter((r) => r.param === 3);
  assert.deepEqual(
    p3.map((r) => [r.paramStart, r.length]),
    [
      [0, 32],
      [32, 28],
    ],
  );
  assert.deepEqual(
    pieces.map((p) => p.group.runs.reduce((n, r) => n + r.length, 0)),
    [32, 32, 6, 25, 32, 28],
  );
});

test('copy-back pieces: storage without windows steps the sub-group whole', () => {
  const pieces = copyBackPieces(g, target({}));
  assert.equal(pieces.length, 1);
  assert.equal(pieces[0]!.group, g);
});
