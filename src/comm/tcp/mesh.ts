// Builds the full mesh of authenticated peer connections of one TCP process group (runs on the comm helper thread).
// Rank 0 hosts the rendezvous store; every rank listens for peers, publishes host:port under `peer/<rank>`, connects
// to every lower rank and accepts every higher one. See [Note: tcp reduction order] (reduce.ts) for why a mesh.
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RendezvousError } from '../../errors.js';
import { FramedConn, acceptHandshake, connectHandshake } from './conn.js';
import type { Logger } from './conn.js';
import type { LinkInfo } from '../transport.js';
import { rateLimited } from './rate-log.js';
import { StoreClient, StoreServer, StoreWaitTimeout } from './store.js';

export interface MeshOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  token: string;
  /** where this rank's listeners bind and its outgoing connections leave from; default: the master address for
   * the store, and for the peer listener the local address this rank uses to reach the store (loopback on one
   * machine). */
  bindAddr?: string;
  /** this node's identity (ZEROTS_NODE_ID): ranks with the same one use Unix sockets; default hostname + boot id. */
  nodeId?: string;
  /** group generation (see conn.ts Hello): keeps successive groups of one job apart. */
  group: number;
  /** how long to wait for the store and all peers. */
  setupTimeoutMs: number;
  /** peers on the same machine talk over a Unix domain socket (default true; same frames, same authentication). */
  localSockets?: boolean;
  log: Logger;
}

export interface Mesh {
  /** links[p] for every peer p (undefined at the own rank). */
  links: (FramedConn | undefined)[];
  /** what each link is (peer order, own rank left out). */
  info: LinkInfo[];
  store: StoreServer | null;
  client: StoreClient | null;
  close(): void;
}

async function listenRetry(
  host: string,
  port: number,
  make: () => Promise<StoreServer>,
  deadline: number,
): Promise<StoreServer> {
  for (;;) {
    try {
      return await make();
    } catch (e) {
      // A previous group's store may still be releasing the port.
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) {
        throw new RendezvousError(
          `rank 0 cannot host the rendezvous store on ${host}:${port}: ${(e as Error).message}; pick another ` +
            'MASTER_PORT (--master-port), or MASTER_ADDR / ZEROTS_BIND_ADDR naming an address of this machine',
          host,
          port,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Identifies this machine (and boot), so two ranks can tell that a Unix socket path of one is reachable by the other. */
function machineId(): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  return `${hostname()}/${boot}`;
}

/**
 * [Note: local peers over Unix sockets] Loopback TCP costs about twice a Unix domain socket per byte in Node
 * (measured-limits.md: ring all-reduce 0.5-0.6 vs 0.8-0.95 GB/s), so ranks on one machine also listen on a socket
 * file in the temp directory and same-machine peers connect there. The file is removed once the mesh is built.
 */
export async function buildMesh(o: MeshOptions): Promise<Mesh> {
  const links: (FramedConn | undefined)[] = new Array(o.worldSize).fill(undefined);
  if (o.worldSize === 1) return { links, info: [], store: null, client: null, close: () => {} };
  const deadline = Date.now() + o.setupTimeoutMs;
  const storeHost = o.bindAddr ?? o.masterAddr;
  const wildcard = o.bindAddr === '0.0.0.0' || o.bindAddr === '::';
  // outgoing connections leave from the bind address, so two "nodes" on loopback addresses are told apart
  const localAddress = wildcard ? undefined : o.bindAddr;
  const where = `${o.masterAddr}:${o.masterPort}`;
  const store =
    o.rank === 0
      ? await listenRetry(
          storeHost,
          o.masterPort,
          () =>
            StoreServer.listen(storeHost, o.masterPort, {
              token: o.token,
              worldSize: o.worldSize,
              group: o.group,
              log: o.log,
            }),
          // only a previous group of this job can be releasing the port; the first group finds it taken by another
          // program (or job) and says so at once
          o.group === 0 ? Date.now() : Math.min(deadline, Date.now() + 5000),
        )
      : null;
  let client: StoreClient | null = null;
  let server: Server | null = null;
  let local: Server | null = null;
  let localPath: string | null = null;
  const closeListeners = () => {
    server?.close();
    local?.close();
    if (localPath)
      try {
        unlinkSync(localPath);
      } catch {
        /* already gone */
      }
    localPath = null;
  };
  const close = () => {
    for (const l of links) l?.fail(null);
    closeListeners();
    client?.close();
    store?.close();
  };
  try {
    client = await StoreClient.connect(o.masterAddr, o.masterPort, {
      token: o.token,
      rank: o.rank,
      worldSize: o.worldSize,
      group: o.group,
      timeoutMs: o.setupTimeoutMs,
      localAddress,
    });
    // Listen where told (a wildcard listens everywhere), advertise an address peers can dial: the interface this
    // rank reaches the store through.
    const seen = client.conn.socket.localAddress ?? '127.0.0.1';
    const host = o.bindAddr ?? seen;
    const advertised = wildcard ? seen : host;
    const higher = o.worldSize - 1 - o.rank;
    let accepted = 0;
    let allAccepted: () => void = () => {};
    const acceptedAll = new Promise<void>((r) => {
      allAccepted = r;
      if (higher === 0) r();
    });
    const refusedLog = rateLimited(o.log, `zerots rank ${o.rank}: refused peer connections`);
    const onPeer = (s: import('node:net').Socket) => {
      const conn = new FramedConn(s, true);
      acceptHandshake(
        conn,
        o.token,
        { role: 'peer', group: o.group, worldSize: o.worldSize, selfRank: o.rank },
        10_000,
      ).then(
        (hello) => {
          if (hello.rank <= o.rank || links[hello.rank]) {
            conn.fail(null);
            refusedLog(
              `zerots rank ${o.rank}: refused a second or misdirected peer connection claiming rank ${hello.rank} from ${conn.remote}`,
            );
            return;
          }
          links[hello.rank] = conn;
          if (++accepted === higher) allAccepted();
        },
        (e: Error) => refusedLog(`zerots rank ${o.rank}: ${e.message}`),
      );
    };
    server = createServer(onPeer);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen({ host, port: 0 }, () => resolve());
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const machine = o.nodeId ?? machineId();
    if ((o.localSockets ?? true) && process.platform !== 'win32') {
      const path = join(tmpdir(), `zerots-${process.pid}-${randomBytes(6).toString('hex')}.sock`);
      local = createServer(onPeer);
      const ok = await new Promise<boolean>((resolve) => {
        local!.once('error', () => resolve(false));
        local!.listen({ path, readableAll: false, writableAll: false }, () => resolve(true));
      });
      if (ok) localPath = path;
    }
    await client.set(`peer/${o.rank}`, JSON.stringify({ host: advertised, port, machine, path: localPath }));
    const lower = Array.from({ length: o.rank }, (_, j) => j);
    // Every rank waits for every rank's address (not only the lower ones it dials), so that a missing node is
    // named by all ranks alike, in one line.
    let addrs: string[];
    try {
      addrs = await client.wait(
        Array.from({ length: o.worldSize }, (_, j) => `peer/${j}`),
        Math.max(1, deadline - Date.now()),
      );
    } catch (e) {
      if (!(e instanceof StoreWaitTimeout)) throw e;
      const missing = e.missing.map((k) => k.slice('peer/'.length));
      throw new RendezvousError(
        `rank ${o.rank}: rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${o.worldSize} did not join ` +
          `the rendezvous at ${where} within ${o.setupTimeoutMs} ms: is every node's zerots launch running, with the ` +
          'same --nnodes, --master-addr and --master-port? (wait longer with --rdzv-timeout)',
        o.masterAddr,
        o.masterPort,
      );
    }
    await Promise.all(
      lower.map(async (j) => {
        const a = JSON.parse(addrs[j]!) as { host: string; port: number; machine: string; path: string | null };
        const viaFile = a.path !== null && a.machine === machine && localPath !== null;
        const conn = new FramedConn(
          viaFile ? connect({ path: a.path! }) : connect({ host: a.host, port: a.port, localAddress }),
          true,
        );
        const theirs = await connectHandshake(
          conn,
          o.token,
          { role: 'peer', group: o.group, rank: o.rank, worldSize: o.worldSize },
          Math.max(1000, deadline - Date.now()),
        );
        if (theirs !== j)
          throw new RendezvousError(
            `rank ${o.rank}: the peer at ${a.host}:${a.port} answered as rank ${theirs}, expected ${j}`,
            a.host,
            a.port,
          );
        links[j] = conn;
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      acceptedAll,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => {
            const missing = links.map((l, p) => (l || p <= o.rank ? -1 : p)).filter((p) => p >= 0);
            reject(
              new RendezvousError(
                `rank ${o.rank}: rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} joined the rendezvous at ` +
                  `${where} but did not connect to this rank within ${o.setupTimeoutMs} ms (a firewall, or ` +
                  'ZEROTS_BIND_ADDR naming an address the others cannot reach?)',
                o.masterAddr,
                o.masterPort,
              ),
            );
          },
          Math.max(1, deadline - Date.now()),
        );
      }),
    ]).finally(() => clearTimeout(timer));
    // No more peers are expected: stop listening, so nothing else can reach this rank.
    closeListeners();
    const info = links.flatMap((l, peer): LinkInfo[] => {
      if (!l) return [];
      const s = l.socket;
      const unix = s.remoteAddress === undefined;
      const at = (a: string | undefined, p: number | undefined) => (unix ? 'unix socket' : `${a}:${p}`);
      return [
        {
          peer,
          via: unix ? 'unix' : 'tcp',
          local: at(s.localAddress, s.localPort),
          remote: at(s.remoteAddress, s.remotePort),
        },
      ];
    });
    return { links, info, store, client, close };
  } catch (e) {
    close();
    throw e;
  }
}
