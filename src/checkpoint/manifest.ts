// manifest.json: what a checkpoint holds and where. Rank 0 writes it last (after every shard is on disk and its
// sha256 known); a loader trusts nothing else. The partition map is `files[r].slices`: which element range of which
// parameter rank r's shard holds (the same ranges for every kind: fp32 master, each optimizer state, 16-bit copy),
// so a loader at any world size and stage finds the bytes of its own segments without the saver's layout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.js';
import { MANIFEST } from './atomic.js';
import type { DataPosition, FlatType, RunScalars } from './types.js';

export const FORMAT = 'zerots-checkpoint';
export const FORMAT_VERSION = 1;

export interface ManifestFile {
  file: string;
  rank: number;
  sha256: string;
  bytes: number;
  /** [parameter index, first element, length] of every slice this shard holds */
  slices: [number, number, number][];
}

export interface Manifest {
  format: typeof FORMAT;
  formatVersion: number;
  tag: string;
  createdAt: string;
  worldSize: number;
  stage: number;
  precision: FlatType;
  /** the kinds each slice is stored as: 'master', the optimizer's state keys, 'param16' for 16-bit runs */
  kinds: string[];
  trainBatchSize: number;
  config: unknown;
  model: unknown;
  params: { name: string; shape: number[] }[];
  scalars: RunScalars;
  /** zerots's randomness is counter-based (init by (seed, name, index); data order by (seed, epoch)): no stream state */
  rng: { kind: 'counter-based'; seed: number | null };
  data: DataPosition;
  clientState: unknown;
  files: ManifestFile[];
}

/** The name of slice `start` of parameter `name` stored as `kind` in a shard file. */
export function tensorName(kind: string, name: string, start: number): string {
  return `${kind}:${name}:${start}`;
}

export function shardFileName(rank: number, worldSize: number): string {
  return `shard-${String(rank).padStart(5, '0')}-of-${String(worldSize).padStart(5, '0')}.safetensors`;
}

/** Reads and checks manifest.json of the checkpoint folder `dir`. */
export function readManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST);
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new CheckpointError(`checkpoint ${path}: cannot read the manifest (${(e as Error).message})`);
  }
  const bad = (why: string) => new CheckpointError(`checkpoint ${path}: ${why}`);
  if (m?.format !== FORMAT) throw bad(`not a zerots checkpoint manifest (format ${JSON.stringify(m?.format)})`);
  if (!(Number.isInteger(m.formatVersion) && m.formatVersion >= 1))
    throw bad(`formatVersion ${m.formatVersion} is not valid`);
  if (m.formatVersion > FORMAT_VERSION)
    throw bad(
      `written in checkpoint format version ${m.formatVersion}, newer than this zerots reads (up to ${FORMAT_VERSION}); ` +
        'load it with the zerots release that wrote it, or a newer one',
    );
  if (!Array.isArray(m.params) || !Array.isArray(m.files) || m.files.length !== m.worldSize)
    throw bad(`params or files missing, or ${m.files?.length} files for world size ${m.worldSize}`);
  // The partition map must cover every parameter exactly once.
  const covered = new Float64Array(m.params.length);
  for (const f of m.files) {
    for (const [i, start, len] of f.slices) {
      const p = m.params[i];
      const numel = p === undefined ? -1 : p.shape.reduce((a, b) => a * b, 1);
      if (!(start >= 0 && len > 0 && start + len <= numel))
        throw bad(`${f.file} lists slice [${start}, ${start + len}) of parameter #${i}, outside it`);
      covered[i] += len;
    }
  }
  m.params.forEach((p, i) => {
    const numel = p.shape.reduce((a, b) => a * b, 1);
    if (covered[i] !== numel) throw bad(`parameter ${p.name}: the shards hold ${covered[i]} of its ${numel} elements`);
  });
  return m;
}

/** Refuses a model whose names or shapes differ, listing missing, unexpected and wrongly shaped names. */
export function checkModelMatch(
  m: Manifest,
  where: string,
  names: readonly string[],
  shapes: readonly (readonly number[])[],
): void {
  checkNamesMatch(
    `checkpoint ${where}`,
    new Map(m.params.map((p) => [p.name, p.shape])),
    names,
    shapes,
    'build the model with the dimensions the checkpoint was saved with (manifest.json "model")',
  );
}

/** The missing, unexpected and wrongly shaped names of `saved` against a model's names and shapes, as one error. */
export function checkNamesMatch(
  what: string,
  saved: ReadonlyMap<string, readonly number[]>,
  names: readonly string[],
  shapes: readonly (readonly number[])[],
  hint: string,
): void {
  const mine = new Set(names);
  const missing = names.filter((n) => !saved.has(n));
  const unexpected = [...saved.keys()].filter((n) => !mine.has(n));
  const shaped = names.flatMap((n, i) => {
    const s = saved.get(n);
    return s !== undefined && s.join(',') !== shapes[i].join(',')
      ? [`${n} (checkpoint [${s.join(', ')}], model [${shapes[i].join(', ')}])`]
      : [];
  });
  if (missing.length + unexpected.length + shaped.length === 0) return;
  const list = (what: string, xs: string[]) =>
    xs.length === 0 ? '' : ` ${what} (${xs.length}): ${xs.slice(0, 20).join(', ')}${xs.length > 20 ? ', ...' : ''};`;
  throw new CheckpointError(
    `${what} does not fit the model:` +
      list('missing in the checkpoint', missing) +
      list('unexpected (not in the model)', unexpected) +
      list('wrongly shaped', shaped) +
      ` ${hint}`,
  );
}
