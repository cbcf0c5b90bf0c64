// Weights out of and into a live run, as safetensors in Hugging Face's GPT-2 names (hf-gpt2.ts).
//
// Out (collective): parameter by parameter, each rank holding part of it broadcasts that part (from its fp32 master
// segment) into a one-tensor buffer on every rank; rank 0 streams the tensor to the file. Memory per rank: one
// bucket's segment copy and one tensor. Stage 0 (every rank holds everything): rank 0 alone, no communication.
//
// In: every rank opens the file, checks names and shapes, and reads only the element ranges of its own segments
// (stages 1-3: its partition, 1/N of the bytes; stage 0: everything), converting F32 / BF16 / F16 to fp32 master
// values; the 16-bit (or offloaded) parameters follow from the master, and stages 1-2 all-gather them.
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError } from '../errors.js';
import { ownerRanks, rangeSlices } from '../zero/partition.js';
import { agreeAllOk, broadcastWords, collective } from './agree.js';
import { ensureDir, writeFileDurable } from './atomic.js';
import {
  decodeToF32,
  dimsFromGpt2Config,
  encodeAs,
  gpt2ConfigJson,
  ignoredHfName,
  isGptDims,
  safeDType,
  toHfName,
  HF_PREFIX,
} from './hf-gpt2.js';
import { checkNamesMatch } from './manifest.js';
import { SafetensorsReader, SafetensorsWriter, type TensorSpec } from './safetensors.js';
import type { ShardedState } from './types.js';

export interface WeightsOutOptions {
  dtype?: 'fp32' | 'bf16' | 'fp16';
  /** write config.json (GPT2Config) beside the file (default true when the model has GPT dimensions) */
  configJson?: boolean;
}

export interface WeightsInReport {
  path: string;
  tensors: number;
  /** bytes this rank read from the file (header included) */
  bytesRead: number;
}

/** Writes `path` via a temporary name and a rename, so a failed write leaves no half file under `path`. */
export function saveWeightsFromState(st: ShardedState, path: string, o: WeightsOutOptions = {}): void {
  const { group } = st;
  const rank = group.rank;
  const what = `saveWeights(${path})`;
  const dtype = safeDType(o.dtype ?? 'fp32');
  const order = st.layout.buckets.flatMap((bk) => bk.layout.entries.map((e) => e.index));
  let writer: SafetensorsWriter | null = null;
  let localError: unknown = null;
  const tmp = `${path}.tmp-${process.pid}`;
  if (rank === 0) {
    try {
      ensureDir(dirname(path));
      rmSync(tmp, { force: true });
      const specs: TensorSpec[] = order.map((i) => ({ name: toHfName(st.names[i]), dtype, shape: st.shapes[i] }));
      writer = new SafetensorsWriter(tmp, specs, { format: 'pt' });
    } catch (e) {
      localError = e;
    }
  }
  st.layout.buckets.forEach((bk, b) => {
    const L = bk.layout;
    const mine = st.partitioned || rank === 0 ? st.readSegment('master', b) : null;
    const segStart = st.partitioned ? rank * L.chunk : 0;
    for (const e of L.entries) {
      let values: Float32Array;
      if (!st.partitioned) {
        if (rank !== 0) continue;
        values = (mine as Float32Array).slice(e.offset, e.offset + e.numel);
      } else {
        const s = st.scratch(e.numel * 4);
        try {
          const full = s.f32.subarray(0, e.numel);
          for (const q of ownerRanks(L, L.entries.indexOf(e))) {
            const lo = Math.max(e.offset, q * L.chunk);
            const hi = Math.min(e.offset + e.numel, (q + 1) * L.chunk);
            const part = full.subarray(lo - e.offset, hi - e.offset);
            if (q === rank) part.set((mine as Float32Array).subarray(lo - segStart, hi - segStart));
            if (group.worldSize > 1) collective(what, rank, () => group.broadcast(part, q, 'f32'));
          }
          values = full.slice();
        } finally {
          s.free();
        }
      }
      if (writer !== null && localError === null) {
        try {
          writer.write(encodeAs(values, dtype));
        } catch (err) {
          localError = err;
        }
      }
    }
  });
  if (rank === 0) {
    try {
      if (localError === null && writer !== null) {
        writer.close();
        renameSync(tmp, path);
        const cfgPath = join(dirname(path), 'config.json');
        if ((o.configJson ?? true) && isGptDims(st.modelConfig)) {
          rmSync(cfgPath, { force: true });
          writeFileDurable(cfgPath, `${JSON.stringify(gpt2ConfigJson(st.modelConfig, o.dtype ?? 'fp32'), null, 2)}\n`);
        }
      }
    } catch (e) {
      localError = e;
    }
    if (localError !== null) {
      writer?.abort();
      rmSync(tmp, { force: true });
    }
  }
  const ok = broadcastWords(st, what, [localError === null ? 1 : 2])[0];
  if (localError !== null) throw new CheckpointError(`${what}: ${(localError as Error).message ?? String(localError)}`);
  if (ok !== 1) throw new CheckpointError(`${what}: rank 0 could not write the file (its own error says why)`);
}

/** The safetensors file of `path`: the file itself, or `<folder>/model.safetensors`. */
export function weightsFile(path: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) {
    const f = join(path, 'model.safetensors');
    if (!existsSync(f))
      throw new CheckpointError(`${path}: a folder without model.safetensors; pass the .safetensors file`);
    return f;
  }
  return path;
}

/** The file's tensors by zerots name (without `transformer.`), the ignored ones left out. */
export function weightsByName(rd: SafetensorsReader): Map<string, string> {
  const out = new Map<string, string>();
  for (const hf of rd.tensors.keys()) {
    if (ignoredHfName(hf)) continue;
    out.set(hf.startsWith(HF_PREFIX) ? hf.slice(HF_PREFIX.length) : hf, hf);
  }
  return out;
}

/** Opens and checks a weights file against names and shapes (and config.json beside it against the model). */
export function openWeights(
  path: string,
  names: readonly string[],
  shapes: readonly (readonly number[])[],
  modelConfig: unknown,
): { rd: SafetensorsReader; byName: Map<string, string>; file: string } {
  const file = weightsFile(path);
  const cfg = join(dirname(file), 'config.json');
  if (existsSync(cfg) && isGptDims(modelConfig)) {
    const d = dimsFromGpt2Config(cfg);
    const diff = (['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const).filter(
      (k) => d[k] !== modelConfig[k],
    );
    if (diff.length > 0)
      throw new CheckpointError(
        `${cfg} does not fit the model: ${diff.map((k) => `${k} ${d[k]} (model ${modelConfig[k]})`).join(', ')}; ` +
          'build the GPT with the dimensions of config.json',
      );
  }
  const rd = SafetensorsReader.open(file);
  try {
    const byName = weightsByName(rd);
    const shapesSaved = new Map([...byName].map(([n, hf]) => [n, rd.info(hf).shape]));
    checkNamesMatch(`weights ${file}`, shapesSaved, names, shapes, 'use weights of a GPT with these dimensions');
    return { rd, byName, file };
  } catch (e) {
    rd.close();
    throw e;
  }
}

/** Collective. Fresh optimizer state stays as it is (zero): this initialises weights, it does not resume a run. */
export function loadWeightsIntoState(st: ShardedState, path: string): WeightsInReport {
  const what = `loadWeights(${path})`;
  const r = st.group.rank;
  let opened: ReturnType<typeof openWeights> | null = null;
  let localError: unknown = null;
  try {
    opened = openWeights(path, st.names, st.shapes, st.modelConfig);
  } catch (e) {
    localError = e;
  }
  agreeAllOk(
    st,
    what,
    localError,
    (failed) => `${what}: rank ${failed} could not open the weights (its own error says why)`,
  );
  const { rd, byName, file } = opened!;
  try {
    st.layout.buckets.forEach((bk, b) => {
      const L = bk.layout;
      const segStart = st.partitioned ? r * L.chunk : 0;
      const segEnd = st.partitioned ? (r + 1) * L.chunk : L.padded;
      const seg = new Float32Array(segEnd - segStart);
      for (const s of rangeSlices(L, segStart, segEnd)) {
        const hf = byName.get(s.name)!;
        const t = rd.info(hf);
        const bytes = rd.readElements(hf, s.paramStart, s.length);
        seg.set(decodeToF32(bytes, t.dtype, s.length, `${file} "${hf}"`), s.shardStart);
      }
      st.writeSegment('master', b, seg);
    });
  } finally {
    rd.close();
  }
  st.finishLoad(false);
  return { path: file, tensors: st.names.length, bytesRead: rd.bytesRead };
}
