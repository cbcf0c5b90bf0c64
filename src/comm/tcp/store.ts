// The rendezvous store: a tiny key-value server hosted by rank 0 on MASTER_ADDR:MASTER_PORT (its comm helper
// thread, so it answers while rank 0's main thread blocks in a collective), and its client.
// Commands: set(key, value), get(key) -> value | null, wait(keys, timeoutMs) -> values, add(key, delta) -> total.
// Every client must pass [Note: tcp authentication] (conn.ts) first; refusals are logged and the server goes on.
import { createServer, connect } from 'node:net';
import type { Server } from 'node:net';
import { FrameKind, ProtocolError, parseJson } from './frame.js';
import { RendezvousError } from '../../errors.js';
import { FramedConn, HandshakeRefused, acceptHandshake, connectHandshake } from './conn.js';
import type { Logger } from './conn.js';
import { rateLimited } from './rate-log.js';

/** A store `wait` that timed out: the keys that never came. */
export class StoreWaitTimeout extends RendezvousError {
  constructor(
    message: string,
    address: string,
    port: number,
    readonly missing: readonly string[],
  ) {
    super(message, address, port);
  }
}

export interface StoreOptions {
  token: string;
  worldSize: number;
  /** group generation: a client of another generation is refused (it retries until its own store is up). */
  group: number;
  handshakeTimeoutMs?: number;
  log?: Logger;
}

interface Waiter {
  keys: string[];
  reply: (values: string[] | null) => void;
}

export class StoreServer {
  private readonly data = new Map<string, string>();
  private waiters: Waiter[] = [];
  private readonly conns = new Set<FramedConn>();
  private readonly refusedLog: Logger;
  refused = 0;

  private constructor(
    private readonly server: Server,
    private readonly opts: StoreOptions,
  ) {
    this.refusedLog = rateLimited(opts.log ?? ((l: string) => console.warn(l)), 'zerots store: refused connections');
  }

  /** Listens on host:port (port 0 picks a free one; see .port). */
  static listen(host: string, port: number, opts: StoreOptions): Promise<StoreServer> {
    const server = createServer();
    const store = new StoreServer(server, opts);
    server.on('connection', (s) => store.accept(new FramedConn(s, false)));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (e) => (opts.log ?? console.warn)(`zerots store: ${e.message}`));
        resolve(store);
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  private async accept(conn: FramedConn): Promise<void> {
    const log = this.opts.log ?? ((l: string) => console.warn(l));
    this.conns.add(conn);
    try {
      await acceptHandshake(
        conn,
        this.opts.token,
        { role: 'store', group: this.opts.group, worldSize: this.opts.worldSize, selfRank: 0 },
        this.opts.handshakeTimeoutMs ?? 10_000,
      );
    } catch (e) {
      this.refused++;
      this.refusedLog(`zerots store: ${(e as Error).message}`);
      this.conns.delete(conn);
      return;
    }
    conn.attach(
      {
        onControl: (h, payload) => {
          if (h.kind !== FrameKind.StoreRequest)
            return conn.fail(new ProtocolError(`store got a ${FrameKind[h.kind]} frame; only StoreRequest is served`));
          this.handle(conn, parseJson(payload, 'store request'));
        },
        onDataPiece: () => conn.fail(new ProtocolError('Data frame sent to the store')),
      },
      (err) => {
        this.conns.delete(conn);
        if (err && !(err as NodeJS.ErrnoException).code)
          log(`zerots store: dropped client ${conn.remote}: ${err.message}`);
      },
    );
  }

  private handle(conn: FramedConn, req: Record<string, unknown>): void {
    const id = req.id;
    const reply = (value: unknown, error?: string, missing?: string[]) =>
      conn.sendJson(FrameKind.StoreReply, error ? { id, error, missing } : { id, value });
    const str = (v: unknown): v is string => typeof v === 'string';
    switch (req.cmd) {
      case 'set':
        if (!str(req.key) || !str(req.value)) return reply(null, 'set needs string key and value');
        this.data.set(req.key, req.value);
        reply(true);
        return this.wake();
      case 'get':
        if (!str(req.key)) return reply(null, 'get needs a string key');
        return reply(this.data.get(req.key) ?? null);
      case 'add': {
        if (!str(req.key) || typeof req.delta !== 'number')
          return reply(null, 'add needs a string key and a numeric delta');
        const v = Number(this.data.get(req.key) ?? '0') + req.delta;
        this.data.set(req.key, String(v));
        reply(v);
        return this.wake();
      }
      case 'wait': {
        const keys = req.keys;
        if (!Array.isArray(keys) || !keys.every(str)) return reply(null, 'wait needs an array of string keys');
        const timeoutMs = typeof req.timeoutMs === 'number' ? req.timeoutMs : 60_000;
        let timer: NodeJS.Timeout | undefined;
        const w: Waiter = {
          keys,
          reply: (values) => {
            clearTimeout(timer);
            if (values) reply(values);
            else {
              const missing = keys.filter((k) => !this.data.has(k));
              reply(null, `timed out after ${timeoutMs} ms waiting for keys ${missing.join(', ')}`, missing);
            }
          },
        };
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.reply(null);
        }, timeoutMs);
        this.waiters.push(w);
        return this.wake();
      }
      default:
        reply(null, `unknown store command ${JSON.stringify(req.cmd)}; allowed: set, get, add, wait`);
    }
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => w.keys.every((k) => this.data.has(k)));
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.reply(w.keys.map((k) => this.data.get(k)!));
  }

  close(): void {
    this.server.close();
    for (const c of this.conns) c.fail(null);
    for (const w of this.waiters) w.reply(null);
    this.waiters = [];
  }
}

export class StoreClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(
    readonly conn: FramedConn,
    host: string,
    port: number,
  ) {
    conn.attach(
      {
        onControl: (h, payload) => {
          const r = parseJson(payload, 'store reply');
          const p = this.pending.get(r.id as number);
          if (h.kind !== FrameKind.StoreReply || !p)
            return conn.fail(new ProtocolError('unexpected frame from the store'));
          this.pending.delete(r.id as number);
          if (typeof r.error === 'string') {
            const where = `the rendezvous store at ${host}:${port}`;
            p.reject(
              Array.isArray(r.missing)
                ? new StoreWaitTimeout(`${where}: ${r.error}`, host, port, r.missing.map(String))
                : new RendezvousError(`${where}: ${r.error}`, host, port),
            );
          } else p.resolve(r.value);
        },
        onDataPiece: () => conn.fail(new ProtocolError('Data frame from the store')),
      },
      (err) => {
        for (const p of this.pending.values())
          p.reject(
            new RendezvousError(
              `the rendezvous store at ${host}:${port} closed the connection${err ? ` (${err.message})` : ''}: ` +
                'rank 0 exited or failed',
              host,
              port,
            ),
          );
        this.pending.clear();
      },
    );
  }

  /**
   * Connects and authenticates, retrying refused/failed attempts until `timeoutMs` (rank 0 may start later). A
   * refusal that retrying cannot cure (another job's token, another world size) is final at once.
   */
  static async connect(
    host: string,
    port: number,
    opts: {
      token: string;
      rank: number;
      worldSize: number;
      group: number;
      timeoutMs: number;
      /** the local address outgoing connections leave from (ZEROTS_BIND_ADDR). */
      localAddress?: string;
    },
  ): Promise<StoreClient> {
    const deadline = Date.now() + opts.timeoutMs;
    let last: Error | null = null;
    for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
      try {
        const socket = connect({ host, port, localAddress: opts.localAddress });
        const conn = new FramedConn(socket, false);
        await connectHandshake(
          conn,
          opts.token,
          { role: 'store', group: opts.group, rank: opts.rank, worldSize: opts.worldSize },
          Math.max(1000, Math.min(10_000, deadline - Date.now())),
        );
        return new StoreClient(conn, host, port);
      } catch (e) {
        if (e instanceof HandshakeRefused && e.reason === 'token')
          throw new RendezvousError(
            `rank ${opts.rank}: another job (different token) is listening on port ${port} of ${host}: its rendezvous ` +
              "store refused this job's token; pick another MASTER_PORT (--master-port) or stop that job",
            host,
            port,
          );
        if (e instanceof HandshakeRefused && e.reason === 'world')
          throw new RendezvousError(
            `rank ${opts.rank}: the rendezvous store on ${host}:${port} serves a job of another world size ` +
              `(${e.message}); this rank has WORLD_SIZE ${opts.worldSize}: start every node with the same --nnodes ` +
              'and --nproc-per-node',
            host,
            port,
          );
        last = e as Error;
        await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
      }
    }
    const why = (last as NodeJS.ErrnoException | null)?.code ?? last?.message ?? 'no attempt';
    throw new RendezvousError(
      `rank ${opts.rank} could not reach the rendezvous store at ${host}:${port} within ${opts.timeoutMs} ms ` +
        `(last attempt: ${why}); is rank 0 running, and do all ranks share MASTER_ADDR, MASTER_PORT and ` +
        'ZEROTS_JOB_TOKEN? (wait longer with ZEROTS_RENDEZVOUS_TIMEOUT_MS or zerots launch --rdzv-timeout)',
      host,
      port,
    );
  }

  private call(req: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.conn.sendJson(FrameKind.StoreRequest, { ...req, id });
    });
  }

  set(key: string, value: string): Promise<void> {
    return this.call({ cmd: 'set', key, value }).then(() => {});
  }
  get(key: string): Promise<string | null> {
    return this.call({ cmd: 'get', key }) as Promise<string | null>;
  }
  add(key: string, delta: number): Promise<number> {
    return this.call({ cmd: 'add', key, delta }) as Promise<number>;
  }
  wait(keys: string[], timeoutMs: number): Promise<string[]> {
    return this.call({ cmd: 'wait', keys, timeoutMs }) as Promise<string[]>;
  }
  close(): void {
    this.conn.fail(null);
  }
}
