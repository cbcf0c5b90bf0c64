// The wire format of zerots TCP (rendezvous store and peer links share it).
//
// [Note: tcp frames] Every message is one frame: a 24-byte little-endian header, then `length` payload bytes.
//   0  u32 magic   0x4d53545a ("ZTSM")      12 u32 length  payload bytes (<= MAX_PAYLOAD[kind])
//   4  u8  version 1                        16 u64 offset  byte offset of a DATA payload inside its transfer
//   5  u8  kind    (FrameKind)                            (a u32 pair, < 2^53)
//   6  u8  op      (collective op code)
//   7  u8  dtype   (comm dtype code)
//   8  u32 seq     collective sequence number (0 for control frames)
// A reader checks magic, version, kind and the kind's size limit before it trusts a single payload byte, and the
// link checks op, seq and the offset/size against the collective it expects (see peer-link.ts). Anything else is a
// protocol error: the connection is dropped and logged; an unauthenticated one never reaches a collective.
import { ZeroTsError } from '../../errors.js';

export const MAGIC = 0x4d53545a;
export const VERSION = 1;
export const HEADER_BYTES = 24;

export enum FrameKind {
  Challenge = 1, // server -> client: 32-byte nonce
  Hello = 2, // client -> server: JSON {rank, worldSize, role, mac}
  Welcome = 3, // server -> client: JSON {rank}
  OpHeader = 4, // peer -> peer: JSON descriptor of the collective at `seq` (also the barrier's message)
  Data = 5, // peer -> peer: payload bytes of the collective at `seq`, at `offset`
  Heartbeat = 6,
  Abort = 7, // JSON {kind, message, rank}: the sender failed the job; receivers fail with that error
  Bye = 8, // the sender leaves the group (destroy)
  StoreRequest = 9, // JSON store command
  StoreReply = 10, // JSON store reply
  Refused = 11, // server -> client, instead of Welcome: JSON {reason, why}; the server then closes
}

const MAX_CONTROL = 64 * 1024;
/** Largest DATA payload one frame may carry; senders split transfers into frames of at most this. */
export const MAX_DATA_PAYLOAD = 4 * 1024 * 1024;
const MAX_STORE = 16 * 1024 * 1024;

export function maxPayload(kind: FrameKind): number {
  if (kind === FrameKind.Data) return MAX_DATA_PAYLOAD;
  if (kind === FrameKind.StoreRequest || kind === FrameKind.StoreReply) return MAX_STORE;
  return MAX_CONTROL;
}

export interface FrameHeader {
  kind: FrameKind;
  op: number;
  dtype: number;
  seq: number;
  length: number;
  offset: number;
}

/** A peer sent bytes that are not a valid frame here; the connection that carried them is dropped. */
export class ProtocolError extends ZeroTsError {}

export function encodeHeader(h: FrameHeader): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt8(VERSION, 4);
  b.writeUInt8(h.kind, 5);
  b.writeUInt8(h.op, 6);
  b.writeUInt8(h.dtype, 7);
  b.writeUInt32LE(h.seq >>> 0, 8);
  b.writeUInt32LE(h.length, 12);
  b.writeUInt32LE(h.offset % 0x100000000, 16);
  b.writeUInt32LE(Math.floor(h.offset / 0x100000000), 20);
  return b;
}

/** A whole control frame (header + JSON payload) as one buffer. */
export function encodeJsonFrame(kind: FrameKind, value: unknown, seq = 0, op = 0, dtype = 0): Buffer {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.concat([encodeHeader({ kind, op, dtype, seq, length: payload.length, offset: 0 }), payload]);
}

export function decodeHeader(b: Buffer): FrameHeader {
  const magic = b.readUInt32LE(0);
  if (magic !== MAGIC)
    throw new ProtocolError(
      `bad frame magic 0x${magic.toString(16)}; expected 0x${MAGIC.toString(16)} (a zerots peer)`,
    );
  const version = b.readUInt8(4);
  if (version !== VERSION)
    throw new ProtocolError(`frame version ${version} is not supported; this build speaks version ${VERSION}`);
  const kind = b.readUInt8(5);
  if (FrameKind[kind] === undefined) throw new ProtocolError(`unknown frame kind ${kind}`);
  const length = b.readUInt32LE(12);
  const limit = maxPayload(kind);
  if (length > limit)
    throw new ProtocolError(`${FrameKind[kind]} frame of ${length} bytes exceeds the limit of ${limit}`);
  const hi = b.readUInt32LE(20);
  if (hi >= 0x200000) throw new ProtocolError(`frame offset out of range (high word ${hi})`);
  return {
    kind,
    op: b.readUInt8(6),
    dtype: b.readUInt8(7),
    seq: b.readUInt32LE(8),
    length,
    offset: hi * 0x100000000 + b.readUInt32LE(16),
  };
}

export interface FrameSink {
  /** A control frame (every kind but Data), whole. */
  onControl(h: FrameHeader, payload: Buffer): void;
  /** A piece of a Data frame's payload: `piece` holds payload bytes [at, at + piece.length) of frame `h`. */
  onDataPiece(h: FrameHeader, piece: Buffer, at: number): void;
}

/**
 * Cuts a byte stream into frames without copying Data payloads: their pieces are handed on as they arrive, so a
 * receiver can copy them straight to their destination. Throws ProtocolError on the first bad header; the caller
 * then drops the connection (the parser is not usable afterwards).
 */
export class FrameParser {
  private head = Buffer.alloc(HEADER_BYTES);
  private headFill = 0;
  private cur: FrameHeader | null = null;
  private got = 0;
  private parts: Buffer[] = [];
  /** Payload limit below the per-kind one, while the peer is not authenticated yet (null: none). */
  limit: number | null = null;

  constructor(
    private readonly sink: FrameSink,
    private readonly allowData = true,
  ) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.cur === null) {
        const n = Math.min(HEADER_BYTES - this.headFill, chunk.length - pos);
        chunk.copy(this.head, this.headFill, pos, pos + n);
        this.headFill += n;
        pos += n;
        if (this.headFill < HEADER_BYTES) return;
        this.headFill = 0;
        const h = decodeHeader(this.head);
        if (h.kind === FrameKind.Data && !this.allowData)
          throw new ProtocolError('Data frame on a connection that carries no collectives');
        if (this.limit !== null && h.length > this.limit)
          throw new ProtocolError(
            `${FrameKind[h.kind]} frame of ${h.length} bytes before authentication (limit ${this.limit})`,
          );
        this.cur = h;
        this.got = 0;
        this.parts = [];
        if (h.length === 0) this.finish();
        continue;
      }
      const h = this.cur;
      const n = Math.min(h.length - this.got, chunk.length - pos);
      const piece = chunk.subarray(pos, pos + n);
      if (h.kind === FrameKind.Data) this.sink.onDataPiece(h, piece, this.got);
      else this.parts.push(piece);
      this.got += n;
      pos += n;
      if (this.got === h.length) this.finish();
    }
  }

  private finish(): void {
    const h = this.cur!;
    this.cur = null;
    if (h.kind !== FrameKind.Data)
      this.sink.onControl(h, this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts));
    else if (h.length === 0) this.sink.onDataPiece(h, Buffer.alloc(0), 0);
    this.parts = [];
  }
}

export function parseJson(payload: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ProtocolError(`${what}: payload is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ProtocolError(`${what}: payload is not a JSON object`);
  return v as Record<string, unknown>;
}
