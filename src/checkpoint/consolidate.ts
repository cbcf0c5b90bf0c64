// Weights out of a saved checkpoint, streamed: one parameter at a time is assembled from the shards' fp32 master
// slices (after every shard's sha256 is checked) and appended to one safetensors file in Hugging Face's GPT-2 names,
// with config.json beside it. Memory: the header and one tensor, whatever the model's size or the saved world size.
import { renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureDir, resolveCheckpointDir, writeFileDurable } from './atomic.js';
import { encodeAs, gpt2ConfigJson, isGptDims, safeDType, toHfName } from './hf-gpt2.js';
import { readManifest, tensorName } from './manifest.js';
import { verifyShard } from './load.js';
import { SafetensorsReader, SafetensorsWriter } from './safetensors.js';

export interface ConsolidateOptions {
  tag?: string;
  dtype?: 'fp32' | 'bf16' | 'fp16';
}

export interface ConsolidateReport {
  checkpoint: string;
  out: string;
  config: string | null;
  tensors: number;
  bytes: number;
  /** the largest tensor assembled at once, in bytes (the memory beyond the header) */
  largestTensorBytes: number;
}

export function consolidateCheckpoint(path: string, out: string, o: ConsolidateOptions = {}): ConsolidateReport {
  const dir = resolveCheckpointDir(path, o.tag);
  const m = readManifest(dir);
  m.files.forEach((_, fi) => verifyShard(dir, m, fi));
  const pieces: { file: number; start: number; len: number }[][] = m.params.map(() => []);
  m.files.forEach((f, fi) => {
    for (const [i, start, len] of f.slices) pieces[i].push({ file: fi, start, len });
  });
  const dtype = safeDType(o.dtype ?? 'fp32');
  const tmp = `${out}.tmp-${process.pid}`;
  ensureDir(dirname(out));
  rmSync(tmp, { force: true });
  const w = new SafetensorsWriter(
    tmp,
    m.params.map((p) => ({ name: toHfName(p.name), dtype, shape: p.shape })),
    { format: 'pt' },
  );
  const readers = new Map<number, SafetensorsReader>();
  let largest = 0;
  let bytes = 0;
  try {
    m.params.forEach((p, i) => {
      const numel = p.shape.reduce((a, b) => a * b, 1);
      const full = new Float32Array(numel);
      largest = Math.max(largest, full.byteLength);
      for (const s of pieces[i]) {
        let rd = readers.get(s.file);
        if (rd === undefined) {
          rd = SafetensorsReader.open(join(dir, m.files[s.file].file));
          readers.set(s.file, rd);
        }
        const b = rd.readElements(tensorName('master', p.name, s.start), 0, s.len);
        full.set(new Float32Array(b.buffer, b.byteOffset, s.len), s.start);
      }
      w.write(encodeAs(full, dtype));
    });
    bytes = w.close().bytes;
    renameSync(tmp, out);
  } catch (e) {
    w.abort();
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    for (const rd of readers.values()) rd.close();
  }
  let config: string | null = null;
  if (isGptDims(m.model)) {
    config = join(dirname(out), 'config.json');
    rmSync(config, { force: true });
    writeFileDurable(config, `${JSON.stringify(gpt2ConfigJson(m.model, o.dtype ?? 'fp32'), null, 2)}\n`);
  }
  return { checkpoint: dir, out, config, tensors: m.params.length, bytes, largestTensorBytes: largest };
}
