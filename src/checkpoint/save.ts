// saveCheckpoint: collective. Every rank writes its shard (chunk `rank` of every bucket, by parameter name and
// element range: the fp32 master, each optimizer state, the 16-bit weights of a 16-bit run) into a temporary folder;
// the ranks agree (one all-gather: each rank's status, byte count and sha256); rank 0 then writes manifest.json and
// publishes the folder atomically ([Note: atomic checkpoint] in atomic.ts) and tells every rank how it went.
//
// [Note: checkpoint agreement]
// Every rank reaches the same verdict: a rank whose write fails (full disk, unwritable folder, wrong step) still
// joins the all-gather with a failure status, so every rank throws a CheckpointError naming the rank, nothing is
// published and `latest` still names the previous checkpoint. A rank that does not call saveCheckpoint is in some
// other collective at that sequence number (or gone): the transport's mismatch (or lost-peer) error ends both sides
// at once; the first collective of a save is a broadcast of 12 words, which no training step issues.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, StateError } from '../errors.js';
import { rangeSlices, type ShardSlice } from '../zero/partition.js';
import {
  SLOT,
  allGatherSlots,
  broadcastWords,
  hashWords,
  packHex,
  packNumber,
  unpackHex,
  unpackNumber,
} from './agree.js';
import { MANIFEST, checkTag, ensureDir, publish, tmpDirFor, writeFileDurable } from './atomic.js';
import { FORMAT, FORMAT_VERSION, shardFileName, tensorName, type Manifest, type ManifestFile } from './manifest.js';
import { SafetensorsWriter, type TensorSpec } from './safetensors.js';
import type { SaveOptions, ShardedState } from './types.js';

const MAGIC = [0x5a54, 0x434b];

/** The kinds a shard stores for this run. */
export function kindsOf(st: ShardedState): string[] {
  return ['master', ...st.stateKeys, ...(st.dtype === 'f32' ? [] : ['param16'])];
}

/** Rank r's part of bucket b ([r*chunk, (r+1)*chunk) whatever the stage) and where it sits in r's segment. */
function ownSlices(st: ShardedState, b: number): { slices: ShardSlice[]; segStart: number } {
  const L = st.layout.buckets[b].layout;
  const r = st.group.rank;
  return { slices: rangeSlices(L, r * L.chunk, (r + 1) * L.chunk), segStart: st.partitioned ? r * L.chunk : 0 };
}

export function saveCheckpoint(st: ShardedState, dir: string, o: SaveOptions = {}): string {
  const { rank, worldSize } = st.group;
  if (st.pendingMicroSteps !== 0)
    throw new StateError(
      `saveCheckpoint: ${st.pendingMicroSteps} micro-batches since the last step(); save at an optimizer-step boundary ` +
        '(after step() applied or skipped the accumulated gradients)',
    );
  const sc = st.scalars();
  const tag = checkTag(o.tag ?? `step-${sc.globalSteps}`);
  const what = `saveCheckpoint(${join(dir, tag)})`;
  // Handshake: rank 0's nonce names the temporary folder; every rank checks it saves the same step and tag.
  const rb = randomBytes(8);
  const mine = [...MAGIC, ...[0, 2, 4, 6].map((i) => rb.readUInt16LE(i)), 0, 0, 0, 0, ...hashWords(tag)];
  packNumberInto(mine, 6, sc.globalSteps);
  const hs = broadcastWords(st, what, mine);
  const nonce = hs
    .slice(2, 6)
    .map((w) => w.toString(16).padStart(4, '0'))
    .join('');
  const tmp = tmpDirFor(dir, tag, nonce);
  const file = shardFileName(rank, worldSize);
  const status = new Uint16Array(SLOT);
  let localError: unknown = null;
  const slicesOut: [number, number, number][] = [];
  try {
    const steps0 = unpackNumber(hs, 6);
    if (steps0 !== sc.globalSteps || hs[10] !== mine[10] || hs[11] !== mine[11])
      throw new CheckpointError(
        `${what}: rank ${rank} is at step ${sc.globalSteps} with tag "${tag}", rank 0 at step ${steps0} with another ` +
          'tag; every rank must save at the same step',
      );
    ensureDir(tmp);
    const r = writeShard(st, join(tmp, file), slicesOut);
    status[0] = 1;
    packNumber(status, 2, r.bytes);
    packHex(status, 6, r.sha256);
    o.onPhase?.('shard-written');
  } catch (e) {
    localError = e;
    status[0] = 2;
  }
  const slots = allGatherSlots(st, what, status);
  const failed = slots.findIndex((s) => s[0] !== 1);
  let outcome = 1;
  if (failed < 0 && rank === 0) {
    try {
      const files: ManifestFile[] = slots.map((s, r) => ({
        file: shardFileName(r, worldSize),
        rank: r,
        sha256: unpackHex(s, 6),
        bytes: unpackNumber(s, 2),
        slices: r === 0 ? slicesOut : slicesOf(st, r),
      }));
      writeFileDurable(join(tmp, MANIFEST), `${JSON.stringify(manifest(st, tag, sc, o, files), null, 1)}\n`);
      o.onPhase?.('manifest-written');
      publish(dir, tmp, tag, nonce, () => o.onPhase?.('renamed'));
    } catch (e) {
      localError = e;
      outcome = 2;
    }
  }
  const verdict = failed < 0 ? broadcastWords(st, what, [outcome])[0] : 2;
  if (verdict === 1) return join(dir, tag);
  if (rank === 0) rmSync(tmp, { recursive: true, force: true });
  if (localError !== null) {
    const msg = localError instanceof Error ? localError.message : String(localError);
    throw new CheckpointError(
      `${what} failed on rank ${rank}: ${msg}; nothing was published (the previous checkpoint and "latest" are unchanged)`,
    );
  }
  const who = Math.max(failed, 0);
  throw new CheckpointError(
    `${what}: rank ${who} could not write its part (its own error says why); nothing was published ` +
      '(the previous checkpoint and "latest" are unchanged)',
  );
}

function packNumberInto(words: number[], at: number, n: number): void {
  const w = new Uint16Array(4);
  packNumber(w, 0, n);
  for (let i = 0; i < 4; i++) words[at + i] = w[i];
}

/** The partition map entry of rank r (every rank can compute every rank's: the layout is shared). */
function slicesOf(st: ShardedState, r: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  st.layout.buckets.forEach((bk) => {
    const L = bk.layout;
    for (const s of rangeSlices(L, r * L.chunk, (r + 1) * L.chunk))
      out.push([L.entries[s.entry].index, s.paramStart, s.length]);
  });
  return out;
}

function writeShard(
  st: ShardedState,
  path: string,
  slicesOut: [number, number, number][],
): { sha256: string; bytes: number } {
  const kinds = kindsOf(st);
  const specs: TensorSpec[] = [];
  st.layout.buckets.forEach((bk, b) => {
    const { slices } = ownSlices(st, b);
    for (const s of slices) slicesOut.push([bk.layout.entries[s.entry].index, s.paramStart, s.length]);
    for (const k of kinds) {
      for (const s of slices)
        specs.push({
          name: tensorName(k, s.name, s.paramStart),
          dtype: k === 'param16' ? (st.dtype === 'bf16' ? 'BF16' : 'F16') : 'F32',
          shape: [s.length],
        });
    }
  });
  const w = new SafetensorsWriter(path, specs, { format: 'zerots-shard', rank: String(st.group.rank) });
  try {
    st.layout.buckets.forEach((_, b) => {
      const { slices, segStart } = ownSlices(st, b);
      if (slices.length === 0) return;
      for (const k of kinds) {
        const seg = st.readSegment(k, b);
        for (const s of slices) {
          const at = s.flatStart - segStart;
          const part = seg.subarray(at, at + s.length);
          w.write(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
        }
      }
    });
    return w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
}

function manifest(
  st: ShardedState,
  tag: string,
  sc: ReturnType<ShardedState['scalars']>,
  o: SaveOptions,
  files: ManifestFile[],
): Manifest {
  const seed = (st.modelConfig as { seed?: unknown } | null)?.seed;
  return {
    format: FORMAT,
    formatVersion: FORMAT_VERSION,
    tag,
    createdAt: new Date().toISOString(),
    worldSize: st.group.worldSize,
    stage: st.stage,
    precision: st.dtype,
    kinds: kindsOf(st),
    trainBatchSize: st.trainBatchSize,
    config: st.config,
    model: st.modelConfig,
    params: st.names.map((name, i) => ({ name, shape: [...st.shapes[i]] })),
    scalars: sc,
    rng: { kind: 'counter-based', seed: typeof seed === 'number' ? seed : null },
    data: o.data ?? { epoch: 0, sampleIndex: sc.globalSteps * st.trainBatchSize },
    clientState: o.clientState ?? null,
    files,
  };
}
