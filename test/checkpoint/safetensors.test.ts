// The safetensors writer and reader against the format's definition (8-byte little-endian header length, JSON
// header padded with spaces to 8 bytes, data_offsets relative to the data), streaming in pieces, range reads, and
// files that are not valid; the atomic publish of a checkpoint folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsReader, SafetensorsWriter, sha256File } from '../../src/checkpoint/safetensors.js';
import { publish, resolveCheckpointDir } from '../../src/checkpoint/atomic.js';
import { createHash } from 'node:crypto';
import { tempDir } from '../helpers/checkpoint.js';

test('safetensors: the bytes follow the format; pieces, ranges, sha256', (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'a.safetensors');
  const a = Float32Array.from({ length: 6 }, (_, i) => i + 0.5);
  const b = Uint16Array.of(1, 2, 3);
  const w = new SafetensorsWriter(
    p,
    [
      { name: 'a', dtype: 'F32', shape: [2, 3] },
      { name: 'empty', dtype: 'F32', shape: [0] },
      { name: 'b', dtype: 'BF16', shape: [3] },
    ],
    { format: 'pt' },
  );
  const ab = new Uint8Array(a.buffer);
  w.write(ab.subarray(0, 5)); // pieces that cut through an element
  w.write(ab.subarray(5));
  w.writeTensor('b', b);
  const { sha256, bytes } = w.close();
  const raw = readFileSync(p);
  assert.equal(bytes, raw.length);
  assert.equal(sha256, createHash('sha256').update(raw).digest('hex'));
  assert.equal(sha256File(p), sha256);
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0, 'data aligned to 8 bytes');
  const header = JSON.parse(raw.subarray(8, 8 + n).toString());
  assert.deepEqual(header.a, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(header.empty, { dtype: 'F32', shape: [0], data_offsets: [24, 24] });
  assert.deepEqual(header.b, { dtype: 'BF16', shape: [3], data_offsets: [24, 30] });
  assert.deepEqual(header.__metadata__, { format: 'pt' });
  const rd = SafetensorsReader.open(p);
  const r = rd.readElements('a', 2, 3);
  assert.deepEqual(Array.from(new Float32Array(r.buffer, r.byteOffset, 3)), [2.5, 3.5, 4.5]);
  assert.equal(rd.bytesRead, 8 + n + 12, 'the header and the range, nothing else');
  rd.close();
  truncateSync(p, raw.length - 2);
  assert.throws(
    () => SafetensorsReader.open(p),
    /tensor "b" has data_offsets \[24, 30\] outside the 28 data bytes \(truncated\?\)/,
  );
  writeFileSync(p, Buffer.from([255, 0, 0, 0, 0, 0, 0, 0, 1]));
  assert.throws(() => SafetensorsReader.open(p), /header length 255 exceeds the file/);
  assert.throws(() => new SafetensorsWriter(p, []), /EEXIST/, 'never overwrites');
});

test('publish: the folder appears whole under its tag, latest follows, a second save of the tag replaces it', (t) => {
  const dir = tempDir(t);
  for (const [nonce, content] of [
    ['n1', 'first'],
    ['n2', 'second'],
  ]) {
    const tmp = join(dir, `.tmp-step-5-${nonce}`);
    mkdirSync(tmp);
    writeFileSync(join(tmp, 'manifest.json'), content);
    publish(dir, tmp, 'step-5', nonce);
    assert.deepEqual(readdirSync(dir).sort(), ['latest', 'step-5']);
    assert.equal(readFileSync(join(dir, 'step-5', 'manifest.json'), 'utf8'), content);
  }
  assert.equal(resolveCheckpointDir(dir), join(dir, 'step-5'));
  assert.equal(resolveCheckpointDir(join(dir, 'step-5')), join(dir, 'step-5'));
  assert.throws(() => resolveCheckpointDir(dir, '../x'), /tag "..\/x" is not allowed/);
  assert.throws(() => resolveCheckpointDir(dir, 'step-6'), /no manifest.json \(not a complete checkpoint\)/);
});
