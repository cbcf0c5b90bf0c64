// The TCP collective runner against a hand-driven peer: rank 0 runs on a real socket whose other end the test writes
// frames into. A well-formed peer gets the exact rank-order result; a peer sending a malformed frame (wrong seq,
// stream, offset, dtype, or a second header) is dropped and logged, and the collective fails with PeerLostError
// naming it instead of using the bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { CollectiveRunner } from '../../src/comm/tcp/collective-runner.js';
import type { OpResult } from '../../src/comm/tcp/collective-runner.js';
import { FramedConn } from '../../src/comm/tcp/conn.js';
import { FrameKind, encodeHeader } from '../../src/comm/tcp/frame.js';
import { DESC_WORDS, encodeDesc } from '../../src/comm/desc.js';
import type { CollectiveDesc } from '../../src/comm/transport.js';

async function pair(): Promise<{ ours: Socket; theirs: Socket }> {
  return new Promise((resolve) => {
    const srv = createServer((ours) => {
      srv.close();
      resolve({ ours, theirs });
    });
    let theirs: Socket;
    srv.listen(0, '127.0.0.1', () => {
      theirs = connect((srv.address() as { port: number }).port, '127.0.0.1');
    });
  });
}

const desc: CollectiveDesc = { seq: 5, op: 'all_reduce', dtype: 'f32', reduceOp: 'sum', count: 6, root: -1 };

function header(d: CollectiveDesc): Buffer {
  const w = new Int32Array(DESC_WORDS);
  encodeDesc(d, w);
  return Buffer.concat([
    encodeHeader({ kind: FrameKind.OpHeader, op: 0, dtype: 1, seq: d.seq, length: DESC_WORDS * 4, offset: 0 }),
    Buffer.from(w.buffer),
  ]);
}

function data(stream: number, seq: number, offset: number, values: number[], dtype = 1): Buffer {
  const p = Buffer.from(new Float32Array(values).buffer);
  return Buffer.concat([encodeHeader({ kind: FrameKind.Data, op: stream, dtype, seq, length: p.length, offset }), p]);
}

async function run(
  peerFrames: (received: () => Buffer) => Buffer[],
): Promise<{ result: OpResult; log: string[]; buf: Float32Array }> {
  const { ours, theirs } = await pair();
  const got: Buffer[] = [];
  theirs.on('data', (c: Buffer) => got.push(c));
  theirs.on('error', () => {});
  const conn = new FramedConn(ours, true);
  conn.hold();
  const log: string[] = [];
  let resolve!: (r: OpResult) => void;
  const done = new Promise<OpResult>((r) => {
    resolve = r;
  });
  const engine = new CollectiveRunner(
    0,
    2,
    [undefined, conn],
    resolve,
    () => {},
    (l) => log.push(l),
  );
  const buf = new Float32Array(new SharedArrayBuffer(24));
  buf.set([1, 2, 3, 4, 5, 6]);
  engine.post({
    id: 1,
    desc,
    input: { sab: buf.buffer as SharedArrayBuffer, byteOffset: 0, length: 6 },
    output: { sab: buf.buffer as SharedArrayBuffer, byteOffset: 0, length: 6 },
    inPlace: true,
  });
  for (const f of peerFrames(() => Buffer.concat(got))) theirs.write(f);
  const result = await done;
  engine.close(100, () => {});
  theirs.destroy();
  return { result, log, buf };
}

test('collective runner: a well-formed peer gets the rank-order sum; rank 0 sends its chunk 1 and then its result', async () => {
  // rank 1 contributes [10..60]: chunk 0 = elements 0..2 (rank 0 folds), chunk 1 = 3..5 (rank 1 folds)
  const { result, buf } = await run(() => [header(desc), data(1, 5, 0, [10, 20, 30]), data(2, 5, 0, [44, 55, 66])]);
  assert.equal(result.error, undefined);
  assert.deepEqual(Array.from(buf), [11, 22, 33, 44, 55, 66]);
  assert.deepEqual(result.stats, { bytesSent: 24, bytesReceived: 24 });
});

const bad: [string, () => Buffer[], RegExp][] = [
  [
    'a frame for an earlier seq',
    () => [header(desc), data(1, 3, 0, [1, 2, 3])],
    /sequence number 3, which is already finished here \(at 5\)/,
  ],
  ['data before the header', () => [data(1, 5, 0, [1, 2, 3])], /data before the op header/],
  ['a second header', () => [header(desc), header(desc)], /second op header/],
  ['data on a stream all_reduce does not use', () => [header(desc), data(3, 5, 0, [1, 2, 3])], /stream 3/],
  ['data out of order', () => [header(desc), data(1, 5, 4, [1, 2])], /data at byte 4/],
  ['data past the chunk', () => [header(desc), data(1, 5, 0, [1, 2, 3, 4])], /\+16\)/],
  ['data of another dtype', () => [header(desc), data(1, 5, 0, [1, 2, 3], 2)], /dtype code 2/],
  [
    'a header of the wrong size',
    () => [
      Buffer.concat([
        encodeHeader({ kind: FrameKind.OpHeader, op: 0, dtype: 1, seq: 5, length: 4, offset: 0 }),
        Buffer.alloc(4),
      ]),
    ],
    /op header of 4 bytes/,
  ],
  [
    'a store frame',
    () => [
      Buffer.concat([
        encodeHeader({ kind: FrameKind.StoreRequest, op: 0, dtype: 0, seq: 0, length: 2, offset: 0 }),
        Buffer.from('{}'),
      ]),
    ],
    /unexpected StoreRequest frame/,
  ],
];

for (const [what, frames, msg] of bad) {
  test(`collective runner: ${what} drops the peer and fails the collective with PeerLostError`, async () => {
    const { result, log, buf } = await run(frames);
    assert.equal(result.error?.name, 'PeerLostError');
    assert.equal(result.error?.fields.lostRank, 1);
    assert.match(result.error!.message, /rank 1 closed its connection \(sent a malformed frame/);
    assert.match(log.join('\n'), msg);
    // the own chunk was never folded with the bad bytes
    assert.deepEqual(Array.from(buf.subarray(0, 3)), [1, 2, 3]);
  });
}
