// Runs TCP collectives on the comm helper thread: one at a time, in seq order, reading and writing the rank's
// shared memory directly. Frames from a peer that is already at a later collective are held until we get there
// (a peer is at most one collective ahead: every collective needs a frame from every peer, see plan.ts).
import { DESC_WORDS, assertSameCollective, decodeDesc, encodeDesc, peerLostError } from '../desc.js';
import type { CollectiveDesc, TransferStats } from '../transport.js';
import { FrameKind, MAX_DATA_PAYLOAD, ProtocolError } from './frame.js';
import { PeerSilent, startHeartbeat } from './heartbeat.js';
import type { FrameHeader } from './frame.js';
import type { FramedConn, Logger } from './conn.js';
import { DTYPE_CODE, Stream, chunks, elemBytes, receivePlan } from './plan.js';
import type { Region } from './plan.js';
import { Folder } from './folder.js';
import { type WireError, wire } from '../wire-error.js';

/** A buffer as the helper thread sees it: a range of a SharedArrayBuffer. */
export interface BufRef {
  sab: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}
export interface OpRequest {
  id: number;
  desc: CollectiveDesc;
  input: BufRef | null;
  output: BufRef | null;
  inPlace: boolean;
}
export interface OpResult {
  id: number;
  stats?: TransferStats;
  error?: WireError;
}

const FOLD_MIN = 64 * 1024; // fold once this many elements are in from every peer (overlaps fold and receive)

interface Running {
  req: OpRequest;
  desc: CollectiveDesc;
  eb: number;
  hdrPending: Set<number>;
  regions: Region[];
  scratch: (Uint8Array | undefined)[];
  own: Float32Array | Uint16Array | null; // the own contribution (reducing ops)
  out: Float32Array | Uint16Array | null; // the own chunk's output (reducing ops)
  outU8: Uint8Array | null;
  lenR: number;
  startR: number;
  folded: number;
  writes: number;
  stats: TransferStats;
}

function view(ref: BufRef, eb: number, from = 0, len = ref.length): Float32Array | Uint16Array {
  const at = ref.byteOffset + from * eb;
  return eb === 4 ? new Float32Array(ref.sab, at, len) : new Uint16Array(ref.sab, at, len);
}

export class CollectiveRunner {
  private queue: OpRequest[] = [];
  private cur: Running | null = null;
  private doneSeq = -1;
  private ahead: { h: FrameHeader; p: Buffer; at: number }[][];
  private gone: (string | null)[];
  /** A peer that left after finding a collective mismatch: the collective (seq) and its message, to report as every rank must. */
  private goneMismatch: ({ seq: number; message: string } | null)[];
  private broken: WireError | null = null;
  private closed = false;
  private readonly folder = new Folder();
  private readonly stopBeat: () => void;

  constructor(
    private readonly rank: number,
    private readonly worldSize: number,
    private readonly links: (FramedConn | undefined)[],
    private readonly done: (r: OpResult) => void,
    private readonly pendingMask: (mask: number, seq: number) => void,
    private readonly log: Logger,
  ) {
    this.ahead = links.map(() => []);
    this.gone = links.map(() => null);
    this.goneMismatch = links.map(() => null);
    links.forEach((l, p) =>
      l?.attach(
        {
          onControl: (h, payload) => this.onFrame(p, h, payload, -1),
          onDataPiece: (h, piece, at) => this.onFrame(p, h, piece, at),
        },
        (err) =>
          this.peerGone(
            p,
            err instanceof PeerSilent
              ? `stopped answering (${err.message}): it is stopped (e.g. SIGSTOP), frozen, or its machine is unreachable`
              : err
                ? `closed its connection (${err.message}): it exited, was killed or failed`
                : 'closed its connection: it exited, was killed or left the group',
          ),
      ),
    );
    this.stopBeat = startHeartbeat(links);
  }

  post(req: OpRequest): void {
    this.queue.push(req);
    if (!this.cur) this.next();
  }

  /** Fails the running and queued collectives; `tellPeers` sends them an Abort (they then see this rank as lost). */
  abort(error: WireError, tellPeers: boolean): void {
    const timeout = error.name === 'CollectiveTimeoutError';
    if (tellPeers)
      for (const l of this.links)
        l?.sendJson(FrameKind.Abort, { message: error.message, timeout, seq: error.fields.seq ?? -1 });
    this.breakWith(error);
  }

  /**
   * Leaves the group gracefully: Bye + FIN to every peer, then `closed` once every peer closed its side too (or
   * after `graceMs`). Closing with unread bytes would make the kernel send a reset, which can discard data a
   * slower peer has not read yet; so we keep reading until the peers hang up.
   */
  close(graceMs: number, closed: () => void): void {
    if (this.closed) return;
    this.closed = true;
    this.stopBeat();
    const cause = Number(this.broken?.fields.lostRank ?? -1);
    // A rank that leaves over a mismatch says so: a peer that sees it leave before the mismatching header arrives
    // must still report the mismatch, not a lost peer.
    const mismatch =
      this.broken?.name === 'CollectiveMismatchError'
        ? { mismatch: this.broken.message, seq: this.broken.fields.seq ?? -1 }
        : {};
    this.breakWith(wire('StateError', `rank ${this.rank} closed its process group`));
    const open = this.links.filter((l): l is FramedConn => !!l && !l.isEnded);
    let left = open.length;
    let fired = false;
    const finish = () => {
      if (!fired) {
        fired = true;
        clearTimeout(timer);
        closed();
      }
    };
    const timer = setTimeout(finish, graceMs);
    if (left === 0) return finish();
    for (const l of open) {
      const prev = l.onEnd;
      l.onEnd = (err) => {
        prev(err);
        if (--left === 0) finish();
      };
      l.sendJson(FrameKind.Bye, { lostRank: cause, why: cause >= 0 ? this.gone[cause] : '', ...mismatch });
      l.socket.end();
    }
  }

  private breakWith(error: WireError): void {
    if (!this.broken) this.broken = error;
    const cur = this.cur;
    this.cur = null;
    if (cur) this.done({ id: cur.req.id, error });
    for (const q of this.queue.splice(0)) this.done({ id: q.id, error });
  }

  private peerGone(p: number, why: string): void {
    if (this.gone[p] !== null) return;
    this.gone[p] = why;
    if (this.closed) return;
    // A peer that already delivered its part of the running collective (and so got all of ours) may leave: it just
    // finished first. Only a peer we still wait for breaks it; the next collective finds it gone.
    const cur = this.cur;
    if (cur && (cur.hdrPending.has(p) || cur.regions.some((r) => r.peer === p && r.got < r.size))) {
      const e = peerLostError(cur.desc, this.rank, p, why);
      this.breakWith(wire(e.name, e.message, { lostRank: p }));
    }
  }

  private fault(p: number, why: string): void {
    this.log(`zerots rank ${this.rank}: dropping the connection of rank ${p}: ${why}`);
    this.links[p]!.fail(new ProtocolError(`sent a malformed frame (${why})`));
  }

  private onFrame(p: number, h: FrameHeader, payload: Buffer, at: number): void {
    if (h.kind === FrameKind.Heartbeat) return;
    if (h.kind === FrameKind.Bye) {
      this.links[p]!.socket.end(); // our FIN answers theirs; the link ends when both sides are done
      // A peer that leaves because it lost rank x names x, so this rank blames x too even if x's own hang-up has
      // not reached it yet (the root cause, not the messenger).
      let lost = -1;
      let why = '';
      try {
        const b = JSON.parse(payload.toString('utf8')) as {
          lostRank?: number;
          why?: string;
          mismatch?: string;
          seq?: number;
        };
        lost = Number(b.lostRank ?? -1);
        why = String(b.why ?? '');
        if (typeof b.mismatch === 'string' && Number.isInteger(b.seq)) {
          const m = { seq: b.seq!, message: b.mismatch };
          this.goneMismatch[p] = m;
          const cur = this.cur;
          if (cur && cur.desc.seq === m.seq && !this.broken)
            this.breakWith(wire('CollectiveMismatchError', m.message, { seq: m.seq }));
        }
      } catch {
        /* no cause given */
      }
      if (Number.isInteger(lost) && lost >= 0 && lost < this.worldSize && lost !== this.rank && lost !== p) {
        this.peerGone(lost, `was lost (rank ${p} saw it: ${why})`);
      }
      return this.peerGone(p, 'left the process group (closed it)');
    }
    if (h.kind === FrameKind.Abort) {
      let a: { message?: unknown; timeout?: unknown; seq?: unknown } = {};
      try {
        a = JSON.parse(payload.toString('utf8')) as typeof a;
      } catch {
        /* no details */
      }
      const cur = this.cur;
      if (a.timeout === true && cur && a.seq === cur.desc.seq && !this.broken) {
        // A peer timed out in the collective we are in: we are waiting for the same missing rank, so we time out too.
        return this.breakWith(
          wire(
            'CollectiveTimeoutError',
            `collective timeout: rank ${this.rank} gives up on ${cur.desc.op} (sequence number ${cur.desc.seq}) with rank ${p}, ` +
              `which timed out first: ${String(a.message)}`,
            { op: cur.desc.op, rank: this.rank, seq: cur.desc.seq },
          ),
        );
      }
      return this.peerGone(p, `gave up on the collective after an error (${String(a.message ?? '')})`);
    }
    if (h.kind !== FrameKind.OpHeader && h.kind !== FrameKind.Data)
      return this.fault(p, `unexpected ${FrameKind[h.kind]} frame`);
    if (this.broken) return;
    const cur = this.cur;
    if (cur && h.seq === cur.desc.seq) return this.deliver(cur, p, h, payload, at);
    if (h.seq > (cur ? cur.desc.seq : this.doneSeq)) {
      this.ahead[p]!.push({ h, p: Buffer.from(payload), at });
      return;
    }
    this.fault(
      p,
      `frame for sequence number ${h.seq}, which is already finished here (at ${cur?.desc.seq ?? this.doneSeq + 1})`,
    );
  }

  private deliver(cur: Running, p: number, h: FrameHeader, payload: Buffer, at: number): void {
    if (h.kind === FrameKind.OpHeader) {
      if (!cur.hdrPending.has(p)) return this.fault(p, `second op header for sequence number ${h.seq}`);
      if (payload.length !== DESC_WORDS * 4)
        return this.fault(p, `op header of ${payload.length} bytes; expected ${DESC_WORDS * 4}`);
      const words = new Int32Array(DESC_WORDS);
      new Uint8Array(words.buffer).set(payload);
      try {
        assertSameCollective(cur.desc, this.rank, decodeDesc(words), p);
      } catch (e) {
        return this.breakWith(wire((e as Error).name, (e as Error).message, { seq: cur.desc.seq }));
      }
      cur.hdrPending.delete(p);
      return this.check(cur);
    }
    if (cur.hdrPending.has(p)) return this.fault(p, 'data before the op header');
    if (h.dtype !== DTYPE_CODE[cur.desc.dtype])
      return this.fault(p, `data of dtype code ${h.dtype} in a ${cur.desc.dtype} collective`);
    const reg = cur.regions.find((r) => r.peer === p && r.stream === h.op);
    if (!reg) return this.fault(p, `data on stream ${h.op}, which ${cur.desc.op} does not use from rank ${p}`);
    if (h.offset + at !== reg.got || h.offset + h.length > reg.size)
      return this.fault(p, `data at byte ${h.offset + at} (+${h.length}) where ${reg.got} of ${reg.size} was expected`);
    const dest = reg.into === 'scratch' ? cur.scratch[p]! : cur.outU8!;
    dest.set(payload, reg.base + reg.got);
    reg.got += payload.length;
    cur.stats.bytesReceived += payload.length;
    if (reg.stream === Stream.Contrib) this.fold(cur);
    this.check(cur);
  }

  private next(): void {
    const req = this.queue.shift();
    if (!req) return;
    if (this.broken) return this.done({ id: req.id, error: this.broken });
    const desc = req.desc;
    const eb = elemBytes(desc);
    const N = this.worldSize;
    const c = chunks(desc, N);
    const cur: Running = {
      req,
      desc,
      eb,
      hdrPending: new Set(),
      regions: receivePlan(desc, this.rank, N),
      scratch: [],
      own: null,
      out: null,
      outU8: req.output ? new Uint8Array(req.output.sab, req.output.byteOffset, req.output.length * eb) : null,
      lenR: c.len[this.rank]!,
      startR: c.start[this.rank]!,
      folded: 0,
      writes: 0,
      stats: { bytesSent: 0, bytesReceived: 0 },
    };
    this.cur = cur;
    const hdr = new Int32Array(DESC_WORDS);
    encodeDesc(desc, hdr);
    const dcode = DTYPE_CODE[desc.dtype];
    for (let p = 0; p < N; p++) {
      if (p === this.rank || this.gone[p] === null) continue;
      // A peer that sent its header for this collective and then left (e.g. it found the mismatch first and threw):
      // report the mismatch its header shows, as every rank must, rather than only its leaving.
      const header = this.ahead[p]!.find(
        (f) => f.h.seq === desc.seq && f.h.kind === FrameKind.OpHeader && f.p.length === DESC_WORDS * 4,
      );
      if (header !== undefined) {
        const words = new Int32Array(DESC_WORDS);
        new Uint8Array(words.buffer).set(header.p);
        try {
          assertSameCollective(desc, this.rank, decodeDesc(words), p);
        } catch (e) {
          return this.breakWith(wire((e as Error).name, (e as Error).message, { seq: desc.seq }));
        }
      }
      const m = this.goneMismatch[p];
      if (m !== null && m.seq === desc.seq)
        return this.breakWith(wire('CollectiveMismatchError', m.message, { seq: desc.seq }));
      return this.peerGoneNow(p);
    }
    // One writev per peer for the header and the first data frames (small collectives: one packet, not three).
    const corked = this.links.filter((l): l is FramedConn => !!l && !l.isEnded);
    for (const l of corked) l.socket.cork();
    for (let p = 0; p < N; p++) {
      if (p === this.rank) continue;
      cur.hdrPending.add(p);
      this.links[p]!.sendHeader(
        { kind: FrameKind.OpHeader, op: 0, dtype: dcode, seq: desc.seq, length: DESC_WORDS * 4, offset: 0 },
        Buffer.from(hdr.buffer),
      );
    }
    const input = req.input;
    if (desc.op === 'reduce_scatter' || desc.op === 'all_reduce') {
      cur.out = view(req.output!, eb, desc.op === 'all_reduce' ? cur.startR : 0, cur.lenR);
      cur.own = view(input!, eb, cur.startR, cur.lenR);
      cur.scratch = this.folder.prepare(N, this.rank, cur.lenR * eb);
      const inU8 = new Uint8Array(input!.sab, input!.byteOffset, input!.length * eb);
      for (let s = 1; s < N; s++) {
        const p = (this.rank + s) % N; // ring-like schedule spreads the first bytes over the peers
        this.sendData(cur, p, Stream.Contrib, inU8, c.start[p]! * eb, c.len[p]! * eb);
      }
    } else if (desc.op === 'all_gather') {
      const inU8 = new Uint8Array(input!.sab, input!.byteOffset, input!.length * eb);
      for (let s = 1; s < N; s++) this.sendData(cur, (this.rank + s) % N, Stream.Gather, inU8, 0, inU8.length);
      if (!req.inPlace) cur.outU8!.set(inU8, cur.startR * eb);
    } else if (desc.op === 'broadcast' && desc.root === this.rank) {
      for (let s = 1; s < N; s++)
        this.sendData(cur, (this.rank + s) % N, Stream.Bcast, cur.outU8!, 0, cur.outU8!.length);
    }
    for (const l of corked) l.socket.uncork();
    for (let p = 0; p < N; p++) {
      const held = this.ahead[p]!;
      if (held.length === 0) continue;
      this.ahead[p] = held.filter((f) => f.h.seq !== desc.seq);
      for (const f of held) if (f.h.seq === desc.seq && this.cur === cur) this.onFrame(p, f.h, f.p, f.at);
    }
    if (this.cur === cur) {
      this.fold(cur);
      this.check(cur);
    }
  }

  private peerGoneNow(p: number): void {
    const e = peerLostError(this.cur!.desc, this.rank, p, this.gone[p]!);
    this.breakWith(wire(e.name, e.message, { lostRank: p }));
  }

  /** Sends src[from, from + bytes) to peer p as Data frames on `stream`, at stream offsets `at`, `at` + ... */
  private sendData(
    cur: Running,
    p: number,
    stream: Stream,
    src: Uint8Array,
    from: number,
    bytes: number,
    at = 0,
  ): void {
    const link = this.links[p]!;
    for (let off = 0; off < bytes; off += MAX_DATA_PAYLOAD) {
      const n = Math.min(MAX_DATA_PAYLOAD, bytes - off);
      cur.writes++;
      link.sendHeader(
        {
          kind: FrameKind.Data,
          op: stream,
          dtype: DTYPE_CODE[cur.desc.dtype],
          seq: cur.desc.seq,
          length: n,
          offset: at + off,
        },
        Buffer.from(src.buffer, src.byteOffset + from + off, n),
        () => {
          cur.writes--;
          if (this.cur === cur) this.check(cur);
        },
      );
    }
    cur.stats.bytesSent += bytes;
  }

  /** Folds the own chunk as far as every peer's contribution has arrived; all_reduce then ships the result. */
  private fold(cur: Running): void {
    const d = cur.desc;
    if ((d.op !== 'reduce_scatter' && d.op !== 'all_reduce') || cur.folded === cur.lenR) return;
    let frontier = cur.lenR;
    for (const r of cur.regions)
      if (r.stream === Stream.Contrib) frontier = Math.min(frontier, Math.floor(r.got / cur.eb));
    if (frontier - cur.folded < FOLD_MIN && frontier < cur.lenR) return;
    const from = cur.folded;
    this.folder.fold(cur.own!, cur.out!, from, frontier, this.rank, d.reduceOp, d.dtype);
    cur.folded = frontier;
    if (d.op === 'all_reduce') {
      for (let s = 1; s < this.worldSize; s++) {
        const p = (this.rank + s) % this.worldSize;
        const sock = this.links[p]!.socket;
        sock.cork();
        this.sendData(
          cur,
          p,
          Stream.Gather,
          cur.outU8!,
          (cur.startR + from) * cur.eb,
          (frontier - from) * cur.eb,
          from * cur.eb,
        );
        sock.uncork();
      }
    }
  }

  private check(cur: Running): void {
    // Ranks that have not even started this collective are the ones to name in a timeout; the others may just be
    // waiting for them too.
    let mask = 0;
    for (const p of cur.hdrPending) mask |= 1 << (p & 31);
    const missingHeaders = mask;
    for (const r of cur.regions) if (r.got < r.size) mask |= 1 << (r.peer & 31);
    this.pendingMask(missingHeaders || mask, cur.desc.seq);
    const reducing = cur.desc.op === 'reduce_scatter' || cur.desc.op === 'all_reduce';
    if (mask !== 0 || cur.writes > 0 || (reducing && cur.folded < cur.lenR)) return;
    this.cur = null;
    this.doneSeq = cur.desc.seq;
    this.done({ id: cur.req.id, stats: cur.stats });
    this.next();
  }
}
