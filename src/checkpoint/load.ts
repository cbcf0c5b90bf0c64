// loadCheckpoint: collective. Reshards on load ([Note: resharding on load]): each rank works out, from the manifest's
// partition map, which element ranges of which saved shard files make up its own segments under the current world
// size and stage, checks those files (size, sha256), agrees with the other ranks that every rank's files are sound
// ([Note: checkpoint agreement] in save.ts), and only then reads the ranges into its master weights, optimizer
// state and 16-bit weights. Nothing is written before every rank has said its files are sound.
//
// [Note: resharding on load]
// A checkpoint stores each parameter's elements by (name, first element, length), never by the saver's flat
// offsets, so the saver's bucket sizes, world size, stage and padding do not matter: the loader lays out its own
// segments (zero/partition) and copies, for each of its parameter slices, the intersecting saved ranges. Padding
// stays zero. The 16-bit weights are taken from the checkpoint when its precision is the run's, else rounded from
// the fp32 master. The scalars (step counts, scheduler, loss scaler) are global and load unchanged.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, StateError } from '../errors.js';
import { rangeSlices } from '../zero/partition.js';
import { agreeAllOk } from './agree.js';
import { resolveCheckpointDir } from './atomic.js';
import { checkModelMatch, readManifest, tensorName, type Manifest } from './manifest.js';
import { SafetensorsReader, sha256File } from './safetensors.js';
import type { LoadOptions, LoadReport, ShardedState } from './types.js';

interface Piece {
  /** element in this rank's segment of the bucket */
  segAt: number;
  file: number;
  /** the saved slice's name (kind prefix added per kind) and the range within it */
  name: string;
  savedStart: number;
  offset: number;
  count: number;
}

/** For every bucket, the saved ranges that fill this rank's segment. */
export function planPieces(m: Manifest, st: ShardedState): Piece[][] {
  const bySaved: { file: number; start: number; len: number }[][] = m.params.map(() => []);
  m.files.forEach((f, fi) => {
    for (const [i, start, len] of f.slices) bySaved[i].push({ file: fi, start, len });
  });
  const index = new Map(m.params.map((p, i) => [p.name, i]));
  const r = st.group.rank;
  return st.layout.buckets.map((bk) => {
    const L = bk.layout;
    const segStart = st.partitioned ? r * L.chunk : 0;
    const segEnd = st.partitioned ? (r + 1) * L.chunk : L.padded;
    const out: Piece[] = [];
    for (const s of rangeSlices(L, segStart, segEnd)) {
      const saved = bySaved[index.get(s.name)!];
      for (const src of saved) {
        const lo = Math.max(s.paramStart, src.start);
        const hi = Math.min(s.paramStart + s.length, src.start + src.len);
        if (lo >= hi) continue;
        out.push({
          segAt: s.shardStart + (lo - s.paramStart),
          file: src.file,
          name: s.name,
          savedStart: src.start,
          offset: lo - src.start,
          count: hi - lo,
        });
      }
    }
    return out;
  });
}

function segmentLength(st: ShardedState, b: number): number {
  const L = st.layout.buckets[b].layout;
  return st.partitioned ? L.chunk : L.padded;
}

export function loadCheckpoint(st: ShardedState, path: string, o: LoadOptions = {}): LoadReport {
  const { rank, worldSize } = st.group;
  if (st.pendingMicroSteps !== 0)
    throw new StateError(
      `loadCheckpoint: ${st.pendingMicroSteps} micro-batches since the last step(); load before training`,
    );
  const what = `loadCheckpoint(${path})`;
  let dir = path;
  let m: Manifest | null = null;
  let pieces: Piece[][] = [];
  let localError: unknown = null;
  try {
    dir = resolveCheckpointDir(path, o.tag);
    m = readManifest(dir);
    checkModelMatch(m, dir, st.names, st.shapes);
    for (const k of st.stateKeys)
      if (!m.kinds.includes(k))
        throw new CheckpointError(
          `checkpoint ${dir} holds ${m.kinds.join(', ')}; this run's optimizer needs state "${k}" ` +
            `(saved with ${m.scalars.optimizer.type}): use the same optimizer type`,
        );
    pieces = planPieces(m, st);
    const files = new Set(pieces.flat().map((p) => p.file));
    for (const fi of files) verifyShard(dir, m, fi);
  } catch (e) {
    localError = e;
  }
  agreeAllOk(
    st,
    what,
    localError,
    (failed) =>
      `${what}: rank ${failed} could not use the checkpoint (its own error says why); nothing was loaded on rank ${rank}`,
  );
  const man = m!;
  const with16 = st.dtype !== 'f32' && man.precision === st.dtype && man.kinds.includes('param16');
  const kinds = ['master', ...st.stateKeys, ...(with16 ? ['param16'] : [])];
  const readers = new Map<number, SafetensorsReader>();
  let bytesRead = 0;
  try {
    const reader = (fi: number) => {
      let rd = readers.get(fi);
      if (rd === undefined) {
        rd = SafetensorsReader.open(join(dir, man.files[fi].file));
        readers.set(fi, rd);
      }
      return rd;
    };
    st.layout.buckets.forEach((_, b) => {
      const n = segmentLength(st, b);
      for (const k of kinds) {
        const seg = k === 'param16' ? new Uint16Array(n) : new Float32Array(n);
        for (const p of pieces[b]) {
          const bytes = reader(p.file).readElements(tensorName(k, p.name, p.savedStart), p.offset, p.count);
          seg.set(
            k === 'param16'
              ? new Uint16Array(bytes.buffer, bytes.byteOffset, p.count)
              : new Float32Array(bytes.buffer, bytes.byteOffset, p.count),
            p.segAt,
          );
        }
        st.writeSegment(k, b, seg);
      }
    });
  } finally {
    for (const rd of readers.values()) {
      bytesRead += rd.bytesRead;
      rd.close();
    }
  }
  st.loadScalars(man.scalars);
  st.finishLoad(with16);
  return {
    dir,
    tag: man.tag,
    globalSteps: man.scalars.globalSteps,
    worldSize: { saved: man.worldSize, now: worldSize },
    stage: { saved: man.stage, now: st.stage },
    precision: { saved: man.precision, now: st.dtype },
    data: man.data,
    clientState: man.clientState,
    bytesRead,
  };
}

/** Size and sha256 of one shard against the manifest. */
export function verifyShard(dir: string, m: Manifest, fi: number): void {
  const f = m.files[fi];
  const path = join(dir, f.file);
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new CheckpointError(`checkpoint shard ${path}: missing (${(e as Error).message})`);
  }
  if (size !== f.bytes)
    throw new CheckpointError(
      `checkpoint shard ${path}: ${size} bytes, the manifest says ${f.bytes} (truncated or replaced); checksum mismatch`,
    );
  const got = sha256File(path);
  if (got !== f.sha256)
    throw new CheckpointError(
      `checkpoint shard ${path}: sha256 checksum mismatch (file ${got}, manifest ${f.sha256}); the file is corrupt`,
    );
}
