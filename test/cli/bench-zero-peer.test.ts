// bench zero --peer torch: each round's ratios are zerots' stage 0 / DDP and stage 1 / ZeroRedundancyOptimizer of
// that round; the JSON takes their median over rounds and their range (bench-zero-peer.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type TorchPeer, peerFields, peerRound } from '../../src/cli/bench-zero-peer.js';

const torch = (ddp: number, zero1: number): TorchPeer => ({
  torch: '1.13',
  ddp_tokens_per_s: ddp,
  zero1_tokens_per_s: zero1,
  threads_per_rank: 1,
  blas: 'libopenblas.so',
});

test('peer rounds: per-round ratios, median and range over rounds', () => {
  const lines: string[] = [];
  const print = (l: string) => lines.push(l);
  const rounds = [
    peerRound({ stage0_tokens_per_s: 1000, stage1_ratio: 0.9 }, torch(500, 900), print),
    peerRound({ stage0_tokens_per_s: 600, stage1_ratio: 1 }, torch(1200, 600), print),
    peerRound({ stage0_tokens_per_s: 900, stage1_ratio: 1.1 }, torch(600, 900), print),
  ];
  assert.deepEqual(
    rounds.map((r) => [r.vsDdp, r.vsZero1]),
    [
      [2, 1],
      [0.5, 1],
      [1.5, 1.1],
    ],
  );
  const f = peerFields(rounds, print);
  assert.equal(f.stage0_vs_ddp, 1.5);
  assert.equal(f.stage1_vs_zero1, 1);
  assert.deepEqual(f.stage0_vs_ddp_range, [0.5, 2]);
  assert.deepEqual(f.stage1_vs_zero1_range, [1, 1.1]);
  assert.equal(f.torch_ddp_tokens_per_s, 600);
  assert.equal(f.rounds, 3);
  assert.match(lines.at(-1)!, /over 3 round\(s\): stage 0 \/ DDP median 1\.5 \(0\.5 \.\. 2\)/);
});
