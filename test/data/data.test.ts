// Corpus, tokenizer, split and the distributed sampler's equivalence properties ([Note: sampler equivalence]).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  ByteTokenizer,
  DEFAULT_CORPUS_SHA256,
  DistributedSampler,
  loadCorpus,
  trainValSplit,
  windowPermutation,
} from '../../src/data/index.js';
import { ConfigError } from '../../src/errors.js';

test('shipped corpus: ~1 MB of ASCII English, checksum as documented', () => {
  const bytes = loadCorpus();
  assert.equal(bytes.length, 1_016_974);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), DEFAULT_CORPUS_SHA256);
  assert.ok(
    bytes.every((b) => b === 10 || (b >= 32 && b < 127)),
    'printable ASCII and newlines',
  );
  assert.ok(new TextDecoder().decode(bytes.subarray(0, 80)).startsWith('Genesis 1\n\nIn the beginning God created'));
  assert.throws(() => loadCorpus('/nonexistent/corpus.txt'), ConfigError);
});

test('byte tokenizer: vocab 256, exact round trip', () => {
  const tok = new ByteTokenizer();
  assert.equal(tok.vocabSize, 256);
  const s = 'In the beginning — naïve 日本 🙂\n';
  const ids = tok.encode(s);
  assert.ok(ids.every((t) => t >= 0 && t < 256));
  assert.equal(ids.length, Buffer.byteLength(s));
  assert.equal(tok.decode(ids), s);
  assert.throws(() => tok.decode([256]), RangeError);
});

test('train/validation split: last fraction held out, contiguous, complete', () => {
  const tokens = loadCorpus();
  const { train, val } = trainValSplit(tokens);
  assert.equal(train.length + val.length, tokens.length);
  assert.equal(val.length, Math.floor(tokens.length * 0.075));
  assert.equal(train.byteOffset + train.length, val.byteOffset, 'val follows train');
  assert.deepEqual(val.subarray(-10), tokens.subarray(-10));
  assert.throws(() => trainValSplit(tokens, 1), ConfigError);
  assert.equal(trainValSplit(tokens, 0).val.length, 0);
});

test('window permutation: a permutation, deterministic in (seed, epoch), different across epochs and seeds', () => {
  const a = windowPermutation(1000, 1, 0);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.deepEqual(windowPermutation(1000, 1, 0), a);
  assert.notDeepEqual(windowPermutation(1000, 1, 1), a);
  assert.notDeepEqual(windowPermutation(1000, 2, 0), a);
});

function stream(n: number): Int32Array {
  // tokens whose value encodes their position, so a window's content proves where it came from
  return Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % 256);
}

test('sampler: windows are [B, T+1] slices of the stream with inputs and shifted targets', () => {
  const tokens = stream(5000);
  const s = new DistributedSampler(tokens, { blockSize: 16, microBatchSize: 4 });
  assert.equal(s.numWindows, Math.floor((5000 - 17) / 16) + 1);
  for (const b of s.batches(3, 0)) {
    assert.equal(b.windows.length, 4 * 17);
    for (let i = 0; i < 4; i++) {
      const st = b.starts[i]!;
      assert.equal(st % 16, 0);
      assert.deepEqual(b.windows.subarray(i * 17, i * 17 + 17), tokens.subarray(st, st + 17));
      assert.deepEqual(b.inputs.subarray(i * 16, i * 16 + 16), tokens.subarray(st, st + 16));
      assert.deepEqual(b.targets.subarray(i * 16, i * 16 + 16), tokens.subarray(st + 1, st + 17));
    }
  }
});

test('sampler: world size N with micro-batch b equals one process with batch N*b; ranks disjoint; deterministic', () => {
  const tokens = stream(12_345);
  const T = 8;
  const b = 3;
  for (const N of [1, 2, 3, 4]) {
    for (const shuffle of [true, false]) {
      const single = new DistributedSampler(tokens, { blockSize: T, microBatchSize: N * b, shuffle });
      const ranks = Array.from(
        { length: N },
        (_, r) => new DistributedSampler(tokens, { blockSize: T, microBatchSize: b, worldSize: N, rank: r, shuffle }),
      );
      for (const r of ranks)
        assert.equal(r.stepsPerEpoch, single.stepsPerEpoch, 'every rank takes the same number of steps');
      for (const epoch of [0, 1]) {
        const want = [...single.batches(11, epoch)];
        const got = ranks.map((r) => [...r.batches(11, epoch)]);
        const seen = new Set<number>();
        for (let step = 0; step < want.length; step++) {
          const union = new Int32Array(N * b * (T + 1));
          for (let r = 0; r < N; r++) {
            const rb = got[r]![step]!;
            union.set(rb.windows, r * b * (T + 1));
            for (const st of rb.starts) {
              assert.ok(!seen.has(st), `window ${st} taken twice in epoch ${epoch} (N=${N})`);
              seen.add(st);
            }
          }
          assert.deepEqual(union, want[step]!.windows, `N=${N} step ${step} epoch ${epoch} shuffle ${shuffle}`);
        }
        // drop-last: all but fewer than N*b windows were used
        assert.ok(single.numWindows - seen.size < N * b);
      }
      // random access and resume agree with the generator
      const r0 = ranks[0]!;
      assert.deepEqual(r0.batch(11, 1, 2).windows, [...r0.batches(11, 1, 2)][0]!.windows);
    }
  }
  // a different seed or epoch gives another order; the same gives the same
  const s = new DistributedSampler(tokens, { blockSize: T, microBatchSize: b, worldSize: 2, rank: 1 });
  assert.deepEqual(
    s.batch(5, 0, 0).starts,
    new DistributedSampler(tokens, { blockSize: T, microBatchSize: b, worldSize: 2, rank: 1 }).batch(5, 0, 0).starts,
  );
  assert.notDeepEqual(s.batch(5, 0, 0).starts, s.batch(5, 1, 0).starts);
  assert.notDeepEqual(s.batch(5, 0, 0).starts, s.batch(6, 0, 0).starts);
});

test('sampler: options are validated with key, value and what is allowed', () => {
  const tokens = stream(100);
  assert.throws(
    () => new DistributedSampler(tokens, { blockSize: 0, microBatchSize: 1 }),
    (e: unknown) => e instanceof ConfigError && e.path === 'blockSize',
  );
  assert.throws(
    () => new DistributedSampler(tokens, { blockSize: 8, microBatchSize: 1, worldSize: 2, rank: 2 }),
    /rank = 2 .* 0\.\.1/,
  );
  assert.throws(() => new DistributedSampler(tokens, { blockSize: 50, microBatchSize: 4 }), /too small/);
  const s = new DistributedSampler(tokens, { blockSize: 8, microBatchSize: 2 });
  assert.throws(() => s.batch(0, 0, s.stepsPerEpoch), RangeError);
});

test('sampler over the real corpus: every rank gets well-formed text windows', () => {
  const { train } = trainValSplit(loadCorpus());
  const s = new DistributedSampler(train, { blockSize: 64, microBatchSize: 8, worldSize: 4, rank: 3 });
  const b = s.batch(1337, 0, 0);
  assert.equal(b.inputs.length, 8 * 64);
  const text = new ByteTokenizer().decode(b.windows.subarray(0, 65));
  assert.equal(text.length, 65);
  assert.ok(s.stepsPerEpoch > 400);
});
