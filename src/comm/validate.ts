// Argument checks of the ProcessGroup calls (the partition contract and dtype rules of src/comm/types.ts).
import { ConfigError, ShapeError } from '../errors.js';
import type { CommBuffer, CommDType, ReduceOp } from './types.js';

export function resolveDtype(buf: CommBuffer, dtype: CommDType | undefined, where: string): CommDType {
  if (buf instanceof Float32Array) {
    if (dtype === undefined || dtype === 'f32') return 'f32';
    throw new ShapeError(
      `${where}: a Float32Array holds f32 data, but dtype '${dtype}' was given; 16-bit data goes in a Uint16Array`,
    );
  }
  if (buf instanceof Uint16Array) {
    if (dtype === 'bf16' || dtype === 'f16') return dtype;
    throw new ShapeError(
      `${where}: a Uint16Array needs dtype 'bf16' or 'f16', got ${dtype === undefined ? 'none' : `'${dtype}'`}`,
    );
  }
  throw new ShapeError(
    `${where}: buffers must be a Float32Array (f32) or a Uint16Array (bf16/f16), got ${Object.prototype.toString.call(buf)}`,
  );
}

export function checkReduceOp(op: ReduceOp, where: string): void {
  if (op !== 'sum' && op !== 'avg' && op !== 'max') {
    throw new ConfigError(`${where}: reduce op must be 'sum', 'avg' or 'max', got ${JSON.stringify(op)}`, 'op');
  }
}

export function checkSameKind(a: CommBuffer, b: CommBuffer, where: string): void {
  if (a.constructor !== b.constructor) {
    throw new ShapeError(
      `${where}: input and output must both be Float32Array or both Uint16Array, got ${a.constructor.name} and ${b.constructor.name}`,
    );
  }
}

function overlaps(a: CommBuffer, b: CommBuffer): boolean {
  return (
    a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength
  );
}

/**
 * `big` has worldSize * small.length elements; `small` may alias `big` only as exactly its chunk `rank`
 * ([Note: partition contract] in types.ts).
 */
export function checkChunked(
  big: CommBuffer,
  small: CommBuffer,
  worldSize: number,
  rank: number,
  where: string,
  bigName: string,
  smallName: string,
): void {
  if (big.length !== worldSize * small.length) {
    throw new ShapeError(
      `${where}: ${bigName} must have worldSize * ${smallName}.length = ${worldSize} * ${small.length} = ` +
        `${worldSize * small.length} elements, got ${big.length}; pad the flat buffer to a multiple of worldSize`,
    );
  }
  if (overlaps(big, small) && small.byteOffset !== big.byteOffset + rank * small.byteLength) {
    throw new ShapeError(
      `${where}: ${smallName} overlaps ${bigName} but is not its chunk ${rank} (elements ` +
        `[${rank * small.length}, ${(rank + 1) * small.length})); in-place use must pass exactly this rank's chunk`,
    );
  }
}

export function checkRoot(root: number, worldSize: number, where: string): void {
  if (!Number.isInteger(root) || root < 0 || root >= worldSize) {
    throw new ConfigError(`${where}: root must be an integer rank in [0, ${worldSize}), got ${root}`, 'root');
  }
}

export function checkTimeout(timeoutMs: number): void {
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new ConfigError(
      `process group timeoutMs must be a positive finite number of milliseconds, got ${timeoutMs}`,
      'timeoutMs',
    );
  }
}
