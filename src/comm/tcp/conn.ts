// A framed, authenticated TCP connection (used by the rendezvous store and by peer links).
//
// [Note: tcp authentication] The accepting side speaks first: a Challenge with a fresh 32-byte nonce. The
// connecting side answers Hello {role, group, rank, worldSize, mac}, mac = HMAC-SHA256(token, nonce|role|group|rank).
// The token itself never crosses the wire. A wrong mac, role or group, a malformed frame, or silence past the
// handshake timeout drops the connection and logs one line; the listener keeps serving everyone else. A client
// that sent a well-formed Hello is told why in a Refused frame {reason}, so it can tell a final refusal (another
// job's token, another world size: retrying cannot help) from a passing one (an earlier group's listener).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { FrameKind, FrameParser, ProtocolError, encodeHeader, encodeJsonFrame, parseJson } from './frame.js';
import type { FrameHeader, FrameSink } from './frame.js';

export type Logger = (line: string) => void;

/** Why a listener refused a Hello: 'token' and 'world' are final for the client, the others may pass. */
export type RefusalReason = 'token' | 'world' | 'group' | 'role' | 'rank';

/** The listener refused this client's Hello (its Refused frame). */
export class HandshakeRefused extends ProtocolError {
  constructor(
    message: string,
    readonly reason: RefusalReason,
  ) {
    super(message);
  }
}

export interface HelloInfo {
  role: 'store' | 'peer';
  group: number;
  rank: number;
  worldSize: number;
}

/** Socket + frame parser with a replaceable sink; reports the first error or close exactly once. */
export class FramedConn {
  sink: FrameSink;
  private readonly parser: FrameParser;
  private ended = false;
  lastHeard = Date.now();
  onEnd: (err: Error | null) => void = () => {};

  constructor(
    readonly socket: Socket,
    allowData: boolean,
  ) {
    this.sink = { onControl: () => {}, onDataPiece: () => {} };
    this.parser = new FrameParser(
      {
        onControl: (h, p) => this.sink.onControl(h, p),
        onDataPiece: (h, p, at) => this.sink.onDataPiece(h, p, at),
      },
      allowData,
    );
    // Until the peer has proven the token, it may only send small frames (a stranger cannot make us buffer MiBs).
    this.parser.limit = 4096;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      this.lastHeard = Date.now();
      try {
        this.parser.push(chunk);
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(null));
  }

  private held: { h: FrameHeader; p: Buffer; at: number }[] | null = null;
  private endErr: Error | null | undefined = undefined;

  /** The peer is authenticated: lift the pre-authentication frame size limit. */
  trust(): void {
    this.parser.limit = null;
  }

  /** Queues every frame (and the end) until attach(): used between a handshake and the link's real owner. */
  hold(): void {
    const q: { h: FrameHeader; p: Buffer; at: number }[] = [];
    this.held = q;
    this.sink = {
      onControl: (h, p) => q.push({ h, p, at: -1 }),
      onDataPiece: (h, p, at) => q.push({ h, p: Buffer.from(p), at }),
    };
    this.onEnd = (err) => {
      this.endErr = err;
    };
  }

  /** Hands the connection to its owner, replaying what hold() queued. */
  attach(sink: FrameSink, onEnd: (err: Error | null) => void): void {
    const q = this.held ?? [];
    this.held = null;
    this.sink = sink;
    this.onEnd = onEnd;
    for (const f of q) {
      if (this.ended && this.endErr === undefined) return;
      if (f.at < 0) sink.onControl(f.h, f.p);
      else sink.onDataPiece(f.h, f.p, f.at);
    }
    if (this.endErr !== undefined) {
      const e = this.endErr;
      this.endErr = undefined;
      onEnd(e);
    }
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Sends `frame` as the last bytes, then ends the connection like fail(err) (a refusal the client can read). */
  endWith(frame: Buffer, err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end(frame);
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.onEnd(err);
  }

  /** Ends the connection; `err` null means an orderly close. Idempotent. */
  fail(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    this.onEnd(err);
  }

  send(frame: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.ended) {
      // always asynchronous, like a socket's own callbacks: callers count writes and must not re-enter
      if (cb) setImmediate(() => cb(new Error('connection closed')));
      return;
    }
    this.socket.write(frame, cb);
  }

  sendJson(kind: FrameKind, value: unknown, seq = 0, op = 0, dtype = 0): void {
    this.send(encodeJsonFrame(kind, value, seq, op, dtype));
  }

  sendHeader(h: FrameHeader, payload?: Buffer, cb?: (err?: Error | null) => void): void {
    if (payload === undefined || payload.length === 0) return this.send(encodeHeader(h), cb);
    this.send(encodeHeader(h));
    this.send(payload, cb);
  }
}

function mac(token: string, nonce: Buffer, role: string, group: number, rank: number): Buffer {
  return createHmac('sha256', token).update(nonce).update(`|${role}|${group}|${rank}`).digest();
}

/** Only one control frame of `kind` is accepted next; anything else is a protocol error. */
function expectOne(conn: FramedConn, kind: FrameKind, timeoutMs: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.fail(new ProtocolError(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.onEnd = (err) => {
      clearTimeout(timer);
      reject(err ?? new ProtocolError(`${what}: connection closed`));
    };
    conn.sink = {
      onControl: (h, p) => {
        clearTimeout(timer);
        if (h.kind === FrameKind.Refused && kind === FrameKind.Welcome) {
          let r: { reason?: unknown; why?: unknown } = {};
          try {
            r = parseJson(p, 'Refused');
          } catch {
            /* no details */
          }
          const e = new HandshakeRefused(
            `${conn.remote} refused this connection: ${String(r.why ?? 'no reason given')}`,
            String(r.reason ?? 'role') as RefusalReason,
          );
          conn.onEnd = () => {};
          conn.fail(e);
          return reject(e);
        }
        if (h.kind !== kind)
          return conn.fail(new ProtocolError(`${what}: expected a ${FrameKind[kind]} frame, got ${FrameKind[h.kind]}`));
        // Welcome ends the connecting side's handshake; frames right behind it in the same chunk are trusted.
        if (kind === FrameKind.Welcome) conn.trust();
        conn.hold();
        resolve(p);
      },
      onDataPiece: () => conn.fail(new ProtocolError(`${what}: Data frame before authentication`)),
    };
  });
}

/** Accepting side. Resolves with the authenticated peer's Hello; rejects (connection dropped) otherwise. */
export async function acceptHandshake(
  conn: FramedConn,
  token: string,
  expect: { role: HelloInfo['role']; group: number; worldSize: number; selfRank: number },
  timeoutMs: number,
): Promise<HelloInfo> {
  const nonce = randomBytes(32);
  const reply = expectOne(conn, FrameKind.Hello, timeoutMs, `handshake with ${conn.remote}`);
  conn.sendHeader({ kind: FrameKind.Challenge, op: 0, dtype: 0, seq: 0, length: nonce.length, offset: 0 }, nonce);
  const o = parseJson(await reply, 'Hello');
  const { role, group, rank, worldSize } = o;
  if (role !== expect.role)
    throw refuse(conn, `role ${JSON.stringify(role)}; this listener serves ${expect.role}`, 'role');
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank >= expect.worldSize)
    throw refuse(conn, `rank ${JSON.stringify(rank)} outside 0..${expect.worldSize - 1}`, 'rank');
  // The token first: a stranger learns nothing about this job but that its token is not theirs.
  const theirs = typeof o.mac === 'string' ? Buffer.from(o.mac, 'hex') : Buffer.alloc(0);
  const ours = mac(token, nonce, expect.role, typeof group === 'number' ? group : -1, rank);
  // (the mac covers the group the client claims, so a client of another group with the right token passes here)
  if (theirs.length !== ours.length || !timingSafeEqual(theirs, ours))
    throw refuse(conn, 'wrong job token (authentication failed)', 'token');
  if (group !== expect.group)
    throw refuse(conn, `group ${JSON.stringify(group)}; this listener serves group ${expect.group}`, 'group');
  if (worldSize !== expect.worldSize)
    throw refuse(conn, `world size ${JSON.stringify(worldSize)}; this job has ${expect.worldSize}`, 'world');
  conn.trust();
  conn.sendJson(FrameKind.Welcome, { rank: expect.selfRank });
  return { role: expect.role, group: expect.group, rank, worldSize: expect.worldSize };
}

function refuse(conn: FramedConn, why: string, reason: RefusalReason): ProtocolError {
  const e = new ProtocolError(`refused connection from ${conn.remote}: ${why}`);
  conn.endWith(encodeJsonFrame(FrameKind.Refused, { reason, why }), e);
  return e;
}

/** Connecting side. Resolves with the server's rank once it accepted us. */
export async function connectHandshake(
  conn: FramedConn,
  token: string,
  hello: HelloInfo,
  timeoutMs: number,
): Promise<number> {
  const nonce = await expectOne(conn, FrameKind.Challenge, timeoutMs, `handshake with ${conn.remote}`);
  const welcome = expectOne(conn, FrameKind.Welcome, timeoutMs, `handshake with ${conn.remote}`);
  conn.sendJson(FrameKind.Hello, {
    ...hello,
    mac: mac(token, nonce, hello.role, hello.group, hello.rank).toString('hex'),
  });
  const w = parseJson(await welcome, 'Welcome');
  if (typeof w.rank !== 'number') throw new ProtocolError(`Welcome from ${conn.remote} carries no rank`);
  return w.rank;
}
