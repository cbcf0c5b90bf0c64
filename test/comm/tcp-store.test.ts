// The rendezvous store and the wire format: commands, token refusal, malformed and silent connections (each
// dropped and logged while the store keeps serving), and the frame parser on split and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { StoreClient, StoreServer } from '../../src/comm/tcp/store.js';
import {
  FrameKind,
  FrameParser,
  HEADER_BYTES,
  MAX_DATA_PAYLOAD,
  ProtocolError,
  encodeHeader,
  encodeJsonFrame,
} from '../../src/comm/tcp/frame.js';
import type { FrameHeader } from '../../src/comm/tcp/frame.js';

const TOKEN = 'the-job-secret';
const opts = { token: TOKEN, worldSize: 3, group: 0 };

async function withStore(fn: (s: StoreServer, log: string[]) => Promise<void>): Promise<void> {
  const log: string[] = [];
  const s = await StoreServer.listen('127.0.0.1', 0, { ...opts, handshakeTimeoutMs: 300, log: (l) => log.push(l) });
  try {
    await fn(s, log);
  } finally {
    s.close();
  }
}

const client = (s: StoreServer, token = TOKEN, timeoutMs = 2000) =>
  StoreClient.connect('127.0.0.1', s.port, { token, rank: 1, worldSize: 3, group: 0, timeoutMs });

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not reached');
}

/** Opens a raw connection, sends `bytes`, resolves when the server hangs up. */
function raw(port: number, bytes: Buffer | null): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      if (bytes) s.write(bytes);
    });
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

test('store: set, get, add, wait (a waiter wakes when its keys appear)', async () => {
  await withStore(async (s) => {
    const a = await client(s);
    const b = await client(s);
    const waited = b.wait(['x', 'y'], 2000);
    await a.set('x', '1');
    assert.equal(await a.get('x'), '1');
    assert.equal(await a.get('nope'), null);
    assert.equal(await a.add('n', 2), 2);
    assert.equal(await b.add('n', 3), 5);
    await a.set('y', 'two');
    assert.deepEqual(await waited, ['1', 'two']);
    await assert.rejects(b.wait(['never'], 50), /timed out after 50 ms waiting for keys never/);
    a.close();
    b.close();
  });
});

test('store: a wrong token is refused once, final for the client, and logged; the store keeps serving', async () => {
  await withStore(async (s, log) => {
    // a long timeout: the refusal must end the attempt at once, not after retrying until the deadline
    await assert.rejects(client(s, 'wrong', 60_000), (e: Error) => {
      assert.equal(e.name, 'RendezvousError');
      assert.match(e.message, new RegExp(`another job \\(different token\\) is listening on port ${s.port}`));
      return true;
    });
    assert.equal(s.refused, 1, 'one attempt: no retry against a store that refused the token');
    assert.match(log.join('\n'), /wrong job token/);
    const ok = await client(s);
    await ok.set('k', 'v');
    assert.equal(await ok.get('k'), 'v');
    ok.close();
  });
});

test('store: garbage, an oversized frame, a Data frame, and silence are dropped and logged', async () => {
  await withStore(async (s, log) => {
    await raw(s.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await raw(s.port, encodeHeader({ kind: FrameKind.Hello, op: 0, dtype: 0, seq: 0, length: 1 << 30, offset: 0 }));
    await raw(s.port, encodeHeader({ kind: FrameKind.Data, op: 1, dtype: 1, seq: 0, length: 4, offset: 0 }));
    // a request far below the store's 16 MiB limit, but too big for a stranger
    await raw(
      s.port,
      encodeHeader({ kind: FrameKind.StoreRequest, op: 0, dtype: 0, seq: 0, length: 1 << 20, offset: 0 }),
    );
    await raw(s.port, encodeJsonFrame(FrameKind.Hello, { role: 'store', group: 0, rank: 99, worldSize: 3, mac: '00' }));
    await raw(s.port, null); // says nothing: dropped after the handshake timeout (300 ms here)
    await until(() => s.refused === 6);
    const text = log.join('\n');
    assert.match(text, /bad frame magic/);
    assert.match(text, /exceeds the limit|before authentication/);
    assert.match(text, /Data frame/);
    assert.match(text, /rank 99 outside 0\.\.2/);
    assert.match(text, /no answer within 300 ms/);
    assert.match(text, /StoreRequest frame of 1048576 bytes before authentication \(limit 4096\)/);
    const ok = await client(s);
    assert.equal(await ok.add('still', 1), 1);
    ok.close();
  });
});

test('frame parser: headers and payloads split anywhere; Data handed on in pieces; bad input throws', () => {
  const got: string[] = [];
  const p = new FrameParser({
    onControl: (h: FrameHeader, b: Buffer) => got.push(`${FrameKind[h.kind]}:${b.toString()}`),
    onDataPiece: (h: FrameHeader, b: Buffer, at: number) => got.push(`Data@${h.offset}+${at}:${b.toString()}`),
  });
  const stream = Buffer.concat([
    encodeJsonFrame(FrameKind.StoreRequest, { a: 1 }),
    encodeHeader({ kind: FrameKind.Data, op: 1, dtype: 1, seq: 7, length: 6, offset: 12 }),
    Buffer.from('abcdef'),
    encodeHeader({ kind: FrameKind.Heartbeat, op: 0, dtype: 0, seq: 0, length: 0, offset: 0 }),
  ]);
  for (let i = 0; i < stream.length; i += 5) p.push(stream.subarray(i, i + 5));
  assert.deepEqual(
    got.filter((g) => !g.startsWith('Data')),
    ['StoreRequest:{"a":1}', 'Heartbeat:'],
  );
  assert.equal(
    got
      .filter((g) => g.startsWith('Data'))
      .map((g) => g.split(':')[1])
      .join(''),
    'abcdef',
  );
  const bad = (b: Buffer, msg: RegExp) =>
    assert.throws(
      () => new FrameParser({ onControl() {}, onDataPiece() {} }).push(b),
      (e: unknown) => e instanceof ProtocolError && msg.test((e as Error).message),
    );
  bad(Buffer.alloc(HEADER_BYTES, 0x41), /bad frame magic/);
  const h = encodeHeader({ kind: FrameKind.Data, op: 1, dtype: 1, seq: 0, length: 8, offset: 0 });
  h.writeUInt8(2, 4);
  bad(h, /version 2 is not supported/);
  const k = encodeHeader({ kind: FrameKind.Data, op: 1, dtype: 1, seq: 0, length: 8, offset: 0 });
  k.writeUInt8(200, 5);
  bad(k, /unknown frame kind 200/);
  bad(
    encodeHeader({ kind: FrameKind.Data, op: 1, dtype: 1, seq: 0, length: MAX_DATA_PAYLOAD + 1, offset: 0 }),
    /exceeds the limit/,
  );
});
