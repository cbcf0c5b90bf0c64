// nvme_path checks, before anything is allocated or trained: the directory exists, is writable, and its file system
// has room for this rank's swap files (the bytes needed and available are in the message). Then the rank's own
// scratch directory under it, removed again at dispose.
import { accessSync, constants, mkdtempSync, rmSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { OffloadError } from '../../errors.js';
import { formatBytes } from '../../tensor/allocator.js';

const OPTIMIZER_KEY = 'zero_optimization.offload_optimizer.nvme_path';

/** `what`: whose swap files the bytes are (in the message). */
export function checkNvmePath(
  path: string,
  neededBytes: number,
  KEY = OPTIMIZER_KEY,
  what = "this rank's swap files",
): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new OffloadError(`${KEY} = "${path}" does not exist; create the directory or point ${KEY} at one.`, path);
  }
  if (!isDir) throw new OffloadError(`${KEY} = "${path}" is not a directory; point ${KEY} at a directory.`, path);
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch {
    throw new OffloadError(
      `${KEY} = "${path}" is not writable by this process; fix its permissions or use another directory.`,
      path,
    );
  }
  const fs = statfsSync(path);
  const available = fs.bavail * fs.bsize;
  if (available < neededBytes) {
    throw new OffloadError(
      `${KEY} = "${path}": ${what} need ${formatBytes(neededBytes)} (${neededBytes} B), the file system ` +
        `has ${formatBytes(available)} (${available} B) free; free space, use a larger disk, or use more ranks.`,
      path,
    );
  }
}

/** A fresh directory for one rank's swap files under nvme_path. */
export function makeSwapDir(path: string, rank: number): string {
  try {
    return mkdtempSync(join(path, `zerots-rank${rank}-`));
  } catch (e) {
    throw new OffloadError(`cannot create a swap directory under "${path}": ${(e as Error).message}`, path);
  }
}

export function removeSwapDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
