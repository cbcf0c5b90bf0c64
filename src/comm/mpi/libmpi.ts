// Open MPI's C API through koffi: the handful of calls the MPI transport makes. Open MPI's handles (MPI_Comm,
// MPI_Datatype, MPI_Op) are pointers to exported globals (ompi_mpi_comm_world, ompi_mpi_uint32_t, ...), so a handle
// is the address of its symbol; MPI_IN_PLACE is (void *)1. Buffers are passed as typed-array views (koffi passes
// the address of their first element, byteOffset included). MPICH-family libraries use integer handles and are not
// supported (the load reports it). Initialised once per process, finalised at exit.
import { type Loaded, loadKoffi, openLibrary } from '../../native/ffi.js';

export const DEFAULT_MPI_CANDIDATES = ['libmpi.so.40', 'libmpi.so', 'libmpi.dylib', 'libmpi.40.dylib'];

type View = ArrayBufferView;
type F = (...a: unknown[]) => number;

export interface LibMpi {
  readonly path: string;
  /** MPI_Get_library_version's first line, e.g. "Open MPI v4.1.4, ...". */
  readonly version: string;
  readonly world: number;
  /** Element types for raw moves: 4-byte and 2-byte unsigned integers (copied bit for bit). */
  readonly u32: number;
  readonly u16: number;
  readonly float: number;
  readonly int: number;
  readonly sum: number;
  readonly max: number;
  rank(comm: number): number;
  size(comm: number): number;
  dup(comm: number): number;
  free(comm: number): void;
  barrier(comm: number): void;
  /** In place on `buf` (MPI_IN_PLACE). */
  allreduceInPlace(buf: View, count: number, type: number, op: number, comm: number): void;
  allgather(send: View | null, count: number, type: number, recv: View, comm: number): void;
  allgatherv(
    send: View,
    count: number,
    type: number,
    recv: View,
    counts: Int32Array,
    displs: Int32Array,
    c: number,
  ): void;
  alltoallv(
    send: View,
    sCounts: Int32Array,
    sDispls: Int32Array,
    type: number,
    recv: View,
    rCounts: Int32Array,
    rDispls: Int32Array,
    comm: number,
  ): void;
  bcast(buf: View, count: number, type: number, root: number, comm: number): void;
  /** MPI_Sendrecv of bytes with one peer; `recv` may be longer than what arrives. */
  sendrecvBytes(
    send: View,
    sendBytes: number,
    recv: View,
    recvBytes: number,
    peer: number,
    tag: number,
    c: number,
  ): void;
  /** Non-blocking all-gather of bytes; returns a request to test. The buffers must not move (wasm memory). */
  iallgatherBytes(send: View, bytes: number, recv: View, comm: number): Request;
  abort(comm: number, code: number): void;
}

export interface Request {
  /** MPI_Test: true once complete. */
  test(): boolean;
}

const loaded = new Map<string, Loaded<LibMpi>>();

/** Why libmpi (Open MPI) cannot be used, or null; opens the library without initialising MPI. */
export function probeLibMpi(path?: string): string | null {
  const opened = openLibrary(path ? [path] : DEFAULT_MPI_CANDIDATES, true);
  if (!opened.ok) return opened.reason;
  try {
    opened.value.lib.symbol('ompi_mpi_comm_world', 'char');
    return null;
  } catch {
    return `${opened.value.path} is not Open MPI (no ompi_mpi_comm_world; other MPIs unsupported)`;
  }
}

/** Loads libmpi (Open MPI) and initialises MPI in this process; cached. */
export function loadLibMpi(path?: string): Loaded<LibMpi> {
  const key = path ?? '';
  const hit = loaded.get(key);
  if (hit) return hit;
  let r: Loaded<LibMpi>;
  try {
    r = open(path);
  } catch (e) {
    r = { ok: false, reason: `libmpi loaded but a call failed (${(e as Error).message})` };
  }
  loaded.set(key, r);
  return r;
}

function open(path: string | undefined): Loaded<LibMpi> {
  // global: Open MPI loads its components (mca_*.so) with dlopen and they need libmpi's symbols.
  const opened = openLibrary(path ? [path] : DEFAULT_MPI_CANDIDATES, true);
  if (!opened.ok) return opened;
  const k = loadKoffi();
  if (!k.ok) return k;
  const { lib } = opened.value;
  const handle = (name: string): number | null => {
    try {
      return Number(k.value.address(lib.symbol(name, 'char')));
    } catch {
      return null;
    }
  };
  const world = handle('ompi_mpi_comm_world');
  if (world === null)
    return {
      ok: false,
      reason: `${opened.value.path} is not Open MPI (no ompi_mpi_comm_world; other MPIs unsupported)`,
    };
  const f = (sig: string): F => lib.func(sig) as unknown as F;
  const check = (what: string, rc: number): void => {
    if (rc !== 0) throw new Error(`${what} returned MPI error ${rc}`);
  };
  const initialized = f('int MPI_Initialized(_Out_ int *flag)');
  const init = f('int MPI_Init(void *argc, void *argv)');
  const finalized = f('int MPI_Finalized(_Out_ int *flag)');
  const finalize = f('int MPI_Finalize()');
  const version = f('int MPI_Get_library_version(_Out_ char *v, _Out_ int *len)');
  const commRank = f('int MPI_Comm_rank(intptr_t comm, _Out_ int *rank)');
  const commSize = f('int MPI_Comm_size(intptr_t comm, _Out_ int *size)');
  const commDup = f('int MPI_Comm_dup(intptr_t comm, _Out_ intptr_t *out)');
  const commFree = f('int MPI_Comm_free(_Inout_ intptr_t *comm)');
  const barrier = f('int MPI_Barrier(intptr_t comm)');
  const allreduceIP = lib.func('MPI_Allreduce', 'int', [
    'intptr_t',
    'void *',
    'int',
    'intptr_t',
    'intptr_t',
    'intptr_t',
  ]) as F;
  const allgather = f('int MPI_Allgather(void *s, int sc, intptr_t st, void *r, int rc, intptr_t rt, intptr_t comm)');
  const allgatherIP = lib.func('MPI_Allgather', 'int', [
    'intptr_t',
    'int',
    'intptr_t',
    'void *',
    'int',
    'intptr_t',
    'intptr_t',
  ]) as F;
  const allgatherv = f(
    'int MPI_Allgatherv(void *s, int sc, intptr_t st, void *r, int *rc, int *displs, intptr_t rt, intptr_t comm)',
  );
  const alltoallv = f(
    'int MPI_Alltoallv(void *s, int *sc, int *sd, intptr_t st, void *r, int *rc, int *rd, intptr_t rt, intptr_t comm)',
  );
  const bcast = f('int MPI_Bcast(void *buf, int count, intptr_t type, int root, intptr_t comm)');
  const sendrecv = f(
    'int MPI_Sendrecv(void *s, int sc, intptr_t st, int dest, int stag, void *r, int rc, intptr_t rt, int src, ' +
      'int rtag, intptr_t comm, void *status)',
  );
  const iallgather = f(
    'int MPI_Iallgather(void *s, int sc, intptr_t st, void *r, int rc, intptr_t rt, intptr_t comm, _Out_ intptr_t *req)',
  );
  const test = f('int MPI_Test(_Inout_ intptr_t *req, _Out_ int *flag, void *status)');
  const abort = f('int MPI_Abort(intptr_t comm, int code)');

  const flag = [0];
  check('MPI_Initialized', initialized(flag));
  if (!flag[0]) {
    check('MPI_Init', init(null, null));
    // Finalise on a normal exit, so mpirun does not report the rank as gone without MPI_Finalize.
    process.once('exit', () => {
      const done = [0];
      finalized(done);
      if (!done[0]) finalize();
    });
  }
  const vbuf = Buffer.alloc(8192);
  const vlen = [0];
  version(vbuf, vlen);
  const byteT = handle('ompi_mpi_byte')!;
  const u = (name: string): number => handle(name) ?? byteT;
  const out: LibMpi = {
    path: opened.value.path,
    version: vbuf.toString('latin1', 0, vlen[0]).split('\n')[0]!.replace(/\0.*$/, '').trim(),
    world,
    u32: u('ompi_mpi_uint32_t'),
    u16: u('ompi_mpi_uint16_t'),
    float: handle('ompi_mpi_float')!,
    int: handle('ompi_mpi_int')!,
    sum: handle('ompi_mpi_op_sum')!,
    max: handle('ompi_mpi_op_max')!,
    rank(c) {
      const r = [0];
      check('MPI_Comm_rank', commRank(c, r));
      return r[0]!;
    },
    size(c) {
      const r = [0];
      check('MPI_Comm_size', commSize(c, r));
      return r[0]!;
    },
    dup(c) {
      const r = [0];
      check('MPI_Comm_dup', commDup(c, r));
      return Number(r[0]);
    },
    free(c) {
      // After MPI_Finalize (our exit hook may run before a context's) every communicator is gone already.
      const done = [0];
      finalized(done);
      if (!done[0]) check('MPI_Comm_free', commFree([c]));
    },
    barrier: (c) => check('MPI_Barrier', barrier(c)),
    allreduceInPlace: (buf, n, t, op, c) => check('MPI_Allreduce', allreduceIP(1, buf, n, t, op, c)),
    allgather(send, n, t, recv, c) {
      if (send === null) check('MPI_Allgather', allgatherIP(1, 0, t, recv, n, t, c));
      else check('MPI_Allgather', allgather(send, n, t, recv, n, t, c));
    },
    allgatherv: (s, n, t, r, counts, displs, c) =>
      check('MPI_Allgatherv', allgatherv(s, n, t, r, counts, displs, t, c)),
    alltoallv: (s, sc, sd, t, r, rc, rd, c) => check('MPI_Alltoallv', alltoallv(s, sc, sd, t, r, rc, rd, t, c)),
    bcast: (buf, n, t, root, c) => check('MPI_Bcast', bcast(buf, n, t, root, c)),
    sendrecvBytes: (sb, sn, rb, rn, peer, tag, c) =>
      check('MPI_Sendrecv', sendrecv(sb, sn, byteT, peer, tag, rb, rn, byteT, peer, tag, c, null)),
    iallgatherBytes(send, bytes, recv, c) {
      const req = [0];
      check('MPI_Iallgather', iallgather(send, bytes, byteT, recv, bytes, byteT, c, req));
      const done = [0];
      return {
        test() {
          check('MPI_Test', test(req, done, null));
          return done[0] !== 0;
        },
      };
    },
    abort: (c, code) => void abort(c, code),
  };
  return { ok: true, value: out };
}
