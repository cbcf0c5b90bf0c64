// safetensors, streamed both ways: the writer knows every tensor's name, dtype and shape up front (so the header is
// written first) and then takes the tensors' bytes in header order, in as many pieces as the caller likes, hashing
// them (sha256) as they go; the reader parses and checks the header and reads any element range of any tensor with
// positioned reads, so a caller holds one range at a time and never the file.
//
// Format (huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data; offsets are relative
// to the end of the header. The header is padded with spaces to a multiple of 8 bytes so the data is aligned.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { CheckpointError } from '../errors.js';

export type SafeDType = 'F32' | 'BF16' | 'F16' | 'I32' | 'I64' | 'F64' | 'U8';

export const SAFE_DTYPE_BYTES: Readonly<Record<SafeDType, number>> = {
  F32: 4,
  BF16: 2,
  F16: 2,
  I32: 4,
  I64: 8,
  F64: 8,
  U8: 1,
};

export interface TensorSpec {
  readonly name: string;
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
}

export interface TensorInfo extends TensorSpec {
  /** byte offsets relative to the start of the data */
  readonly begin: number;
  readonly end: number;
}

const MAX_HEADER = 100 << 20;

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The header bytes (length prefix included) and each tensor's place. */
export function encodeHeader(
  specs: readonly TensorSpec[],
  metadata: Readonly<Record<string, string>> = {},
): { bytes: Buffer; infos: TensorInfo[]; dataBytes: number } {
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  const infos: TensorInfo[] = [];
  let at = 0;
  for (const s of specs) {
    if (s.name in json) throw new CheckpointError(`safetensors: tensor name "${s.name}" given twice`);
    const n = numelOf(s.shape) * SAFE_DTYPE_BYTES[s.dtype];
    infos.push({ ...s, begin: at, end: at + n });
    json[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [at, at + n] };
    at += n;
  }
  let text = JSON.stringify(json);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const body = Buffer.from(text, 'utf8');
  const bytes = Buffer.alloc(8 + body.length);
  bytes.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(bytes, 8);
  return { bytes, infos, dataBytes: at };
}

/** Streams one safetensors file: tensors in header order, each in one or more pieces. */
export class SafetensorsWriter {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private readonly infos: TensorInfo[];
  private readonly dataStart: number;
  private next = 0; // index of the tensor being written
  private filled = 0; // bytes of it written
  private pos = 0; // file position
  private closed = false;

  constructor(
    readonly path: string,
    specs: readonly TensorSpec[],
    metadata: Readonly<Record<string, string>> = {},
  ) {
    const h = encodeHeader(specs, metadata);
    this.infos = h.infos;
    this.dataStart = h.bytes.length;
    this.fd = openSync(path, 'wx');
    try {
      this.put(h.bytes);
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  /** The tensors still to come, in order (for a caller that walks them). */
  get pending(): readonly TensorInfo[] {
    return this.infos.slice(this.next);
  }

  /** Appends bytes of the current tensor (and, past its end, of the next ones). */
  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const cur = this.infos[this.next];
      if (cur === undefined)
        throw new CheckpointError(`safetensors ${this.path}: ${bytes.length - off} bytes past the last tensor`);
      const room = cur.end - cur.begin - this.filled;
      const n = Math.min(room, bytes.length - off);
      this.put(bytes.subarray(off, off + n));
      off += n;
      this.filled += n;
      if (this.filled === cur.end - cur.begin) this.advance();
    }
    while (this.next < this.infos.length && this.infos[this.next].end === this.infos[this.next].begin) this.advance();
  }

  /** Writes a whole tensor given by name (must be the next one). */
  writeTensor(name: string, data: Float32Array | Uint16Array | Int32Array | Uint8Array): void {
    const cur = this.infos[this.next];
    if (cur?.name !== name || this.filled !== 0)
      throw new CheckpointError(`safetensors ${this.path}: "${name}" written out of order (next is "${cur?.name}")`);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length !== cur.end - cur.begin)
      throw new CheckpointError(
        `safetensors ${this.path}: "${name}" has ${bytes.length} bytes, the header says ${cur.end - cur.begin}`,
      );
    this.write(bytes);
  }

  /** Flushes to stable storage (fsync) and closes; returns the file's sha256 (hex) and size. */
  close(): { sha256: string; bytes: number } {
    if (this.closed) throw new CheckpointError(`safetensors ${this.path}: closed twice`);
    this.closed = true;
    try {
      if (this.next < this.infos.length)
        throw new CheckpointError(
          `safetensors ${this.path}: closed before tensor "${this.infos[this.next].name}" was written`,
        );
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
    return { sha256: this.hash.digest('hex'), bytes: this.pos };
  }

  /** Closes without the checks (after an error). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already failing
    }
  }

  private advance(): void {
    this.next++;
    this.filled = 0;
  }

  private put(b: Uint8Array): void {
    let done = 0;
    while (done < b.length) done += writeSync(this.fd, b, done, b.length - done, this.pos + done);
    this.pos += b.length;
    this.hash.update(b);
  }

  /** Where the data starts in the file (header size). */
  get headerBytes(): number {
    return this.dataStart;
  }
}

/** One safetensors file open for positioned reads; counts the bytes it read (see the weights-in memory test). */
export class SafetensorsReader {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly dataStart: number;
  readonly fileBytes: number;
  bytesRead = 0;
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    this.fileBytes = fstatSync(fd).size;
    const bad = (why: string) =>
      new CheckpointError(`safetensors ${path}: ${why}; the file is not a valid safetensors file`);
    if (this.fileBytes < 8) throw bad(`${this.fileBytes} bytes, too short for the 8-byte header length`);
    const len = this.pread(8, 0).readBigUInt64LE(0);
    if (len > BigInt(Math.min(MAX_HEADER, this.fileBytes - 8)))
      throw bad(`header length ${len} exceeds the file (${this.fileBytes} bytes) or ${MAX_HEADER} bytes`);
    const n = Number(len);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(this.pread(n, 8).toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw bad(`header is not JSON (${(e as Error).message})`);
    }
    this.dataStart = 8 + n;
    const dataBytes = this.fileBytes - this.dataStart;
    const map = new Map<string, TensorInfo>();
    let meta: Record<string, string> = {};
    for (const [name, v] of Object.entries(json)) {
      if (name === '__metadata__') {
        meta = v as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      if (!(t.dtype !== undefined && t.dtype in SAFE_DTYPE_BYTES))
        throw bad(
          `tensor "${name}" has dtype ${JSON.stringify(t.dtype)} (this reader knows ${Object.keys(SAFE_DTYPE_BYTES).join(', ')})`,
        );
      const dtype = t.dtype as SafeDType;
      const shape = t.shape ?? [];
      const [begin, end] = t.data_offsets ?? [NaN, NaN];
      if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && end >= begin && end <= dataBytes))
        throw bad(
          `tensor "${name}" has data_offsets [${begin}, ${end}] outside the ${dataBytes} data bytes (truncated?)`,
        );
      if (end - begin !== numelOf(shape) * SAFE_DTYPE_BYTES[dtype])
        throw bad(`tensor "${name}": ${end - begin} bytes do not hold ${dtype} [${shape.join(', ')}]`);
      map.set(name, { name, dtype, shape, begin, end });
    }
    this.tensors = map;
    this.metadata = meta;
  }

  static open(path: string): SafetensorsReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(`safetensors ${path}: cannot open (${(e as Error).message})`);
    }
    try {
      return new SafetensorsReader(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (t === undefined) throw new CheckpointError(`safetensors ${this.path}: no tensor "${name}"`);
    return t;
  }

  /** Bytes of elements [start, start + count) of a tensor. */
  readElements(name: string, start: number, count: number): Buffer {
    const t = this.info(name);
    const eb = SAFE_DTYPE_BYTES[t.dtype];
    const n = (t.end - t.begin) / eb;
    if (!(start >= 0 && count >= 0 && start + count <= n))
      throw new CheckpointError(
        `safetensors ${this.path}: "${name}" range [${start}, ${start + count}) outside [0, ${n})`,
      );
    return this.pread(count * eb, this.dataStart + t.begin + start * eb);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private pread(n: number, pos: number): Buffer {
    if (this.fd === null) throw new CheckpointError(`safetensors ${this.path}: read after close`);
    const b = Buffer.allocUnsafeSlow(n); // not pooled: byteOffset 0, so typed views of it are aligned
    let done = 0;
    while (done < n) {
      const r = readSync(this.fd, b, done, n - done, pos + done);
      if (r === 0)
        throw new CheckpointError(
          `safetensors ${this.path}: file ends at byte ${pos + done}, expected ${pos + n} (truncated)`,
        );
      done += r;
    }
    this.bytesRead += n;
    return b;
  }
}

/** sha256 (hex) of a whole file, read in 8 MiB pieces. */
export function sha256File(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const h = createHash('sha256');
    const b = Buffer.allocUnsafe(8 << 20);
    for (;;) {
      const r = readSync(fd, b, 0, b.length, null);
      if (r === 0) break;
      h.update(b.subarray(0, r));
    }
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}
