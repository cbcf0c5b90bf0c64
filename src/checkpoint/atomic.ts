// Atomic checkpoint folders. [Note: atomic checkpoint]
// A checkpoint is written into `<dir>/.tmp-<tag>-<nonce>/`; every file is fsynced when written, then the folder;
// only then is it renamed to `<dir>/<tag>/` (one rename(2): atomic within a file system) and `<dir>/latest` replaced
// by writing `latest.tmp-<nonce>`, fsyncing it and renaming it over `latest`, with `<dir>` fsynced after each rename.
// A process killed at any point leaves either the previous `latest` and its folder untouched (plus a stray `.tmp-`
// folder the loader never looks at) or the new checkpoint complete. An existing `<dir>/<tag>/` (saving the same tag
// twice) is moved aside before the rename and removed after `latest` names the new one.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.js';

export const LATEST = 'latest';
export const MANIFEST = 'manifest.json';

/** Tags are folder names: letters, digits, '.', '_', '-' (no path separators, not starting with '.'). */
export function checkTag(tag: string): string {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(tag))
    throw new CheckpointError(
      `checkpoint tag ${JSON.stringify(tag)} is not allowed; use 1-128 letters, digits, '.', '_' or '-', not starting with '.'`,
    );
  return tag;
}

export function tmpDirFor(dir: string, tag: string, nonce: string): string {
  return join(dir, `.tmp-${tag}-${nonce}`);
}

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` (fails if it exists), writes `data`, fsyncs, closes. */
export function writeFileDurable(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'wx');
  try {
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    while (done < b.length) done += writeSync(fd, b, done, b.length - done, done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new CheckpointError(
      `checkpoint folder ${dir}: cannot create it (${(e as Error).message}); choose a writable folder`,
    );
  }
}

/**
 * Moves the complete folder `tmp` to `<dir>/<tag>` and points `<dir>/latest` at it (see [Note: atomic checkpoint]).
 * `beforeLatest` runs between the two renames (a test kills the process there).
 */
export function publish(dir: string, tmp: string, tag: string, nonce: string, beforeLatest?: () => void): string {
  fsyncPath(tmp);
  const final = join(dir, tag);
  let aside: string | null = null;
  if (exists(final)) {
    aside = join(dir, `.old-${tag}-${nonce}`);
    renameSync(final, aside);
  }
  renameSync(tmp, final);
  fsyncPath(dir);
  beforeLatest?.();
  const lt = join(dir, `${LATEST}.tmp-${nonce}`);
  writeFileDurable(lt, `${tag}\n`);
  renameSync(lt, join(dir, LATEST));
  fsyncPath(dir);
  if (aside !== null) rmSync(aside, { recursive: true, force: true });
  return final;
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The checkpoint folder to load: `path` itself when it holds a manifest, else `<path>/<tag>`, tag defaulting to
 * the one `<path>/latest` names.
 */
export function resolveCheckpointDir(path: string, tag?: string): string {
  if (tag === undefined && exists(join(path, MANIFEST))) return path;
  let t = tag;
  if (t === undefined || t === LATEST) {
    try {
      t = readFileSync(join(path, LATEST), 'utf8').trim();
    } catch {
      throw new CheckpointError(
        `no checkpoint at ${path}: it has neither ${MANIFEST} nor a "${LATEST}" file; pass the folder of a saved checkpoint`,
      );
    }
  }
  const d = join(path, checkTag(t));
  if (!exists(join(d, MANIFEST)))
    throw new CheckpointError(`checkpoint ${d}: no ${MANIFEST} (not a complete checkpoint); pass another tag`);
  return d;
}
