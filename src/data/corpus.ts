// The shipped corpus (data/kjv-genesis-judges.txt.gz, see data/README.md) and loading of any text file as bytes.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ConfigError } from '../errors.js';

export const DEFAULT_CORPUS_FILE = 'kjv-genesis-judges.txt.gz';
/** sha256 of the uncompressed default corpus (data/README.md). */
export const DEFAULT_CORPUS_SHA256 = '68b5038c72b27129ca9ea0b2f5c0582b54eabe55460e563e273249791a36f5b9';

/** data/<file> of the package: found by walking up from this module (src/data or dist/src/data). */
export function defaultCorpusPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'data', DEFAULT_CORPUS_FILE);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new ConfigError(
    `the shipped corpus data/${DEFAULT_CORPUS_FILE} was not found above ${fileURLToPath(import.meta.url)}; ` +
      `reinstall zerots or pass a corpus path`,
    'data.path',
  );
}

/** The bytes of a text file (gunzipped when the name ends in .gz); the shipped corpus when no path is given. */
export function loadCorpus(path: string = defaultCorpusPath()): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new ConfigError(`cannot read corpus ${path}: ${(e as Error).message}`, 'data.path');
  }
  const bytes = path.endsWith('.gz') ? gunzipSync(raw) : raw;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
