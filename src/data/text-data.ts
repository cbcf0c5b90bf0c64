// `--data FILE`: a user's text. Plain text (one document; .gz is gunzipped) or JSON Lines (.jsonl, .jsonl.gz,
// .ndjson), one JSON object per line with a string `text` field (the shape of most public corpora dumps); blank
// lines are skipped and a malformed line is a ConfigError naming its line number. Documents are tokenized one by one
// and joined with the tokenizer's end-of-text id (a newline for the byte tokenizer), so a single plain-text file
// tokenizes exactly as the whole file does.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ConfigError } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';

export type TextFormat = 'text' | 'jsonl';

export interface TextData {
  readonly format: TextFormat;
  readonly documents: readonly string[];
}

export function formatOf(path: string): TextFormat {
  return /\.(jsonl|ndjson)(\.gz)?$/i.test(path) ? 'jsonl' : 'text';
}

/** The documents of a text or JSONL file (see the file header). */
export function readTextData(path: string): TextData {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
    if (path.endsWith('.gz')) raw = gunzipSync(raw);
  } catch (e) {
    throw new ConfigError(`cannot read --data ${path}: ${(e as Error).message}`, 'data');
  }
  const text = raw.toString('utf8');
  const format = formatOf(path);
  const documents = format === 'jsonl' ? parseJsonl(text, path) : [text];
  if (documents.every((d) => d.length === 0))
    throw new ConfigError(
      `--data ${path} holds no text${format === 'jsonl' ? ' (no non-empty "text" field)' : ''}`,
      'data',
    );
  return { format, documents };
}

/** JSONL text to documents; `where` names the file in errors. */
export function parseJsonl(text: string, where: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new ConfigError(`${where} line ${i + 1}: not valid JSON (${(e as Error).message})`, 'data');
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !('text' in v)) {
      throw new ConfigError(
        `${where} line ${i + 1}: expected an object with a "text" field, got ${line.slice(0, 60)}`,
        'data',
      );
    }
    const t = (v as { text: unknown }).text;
    if (typeof t !== 'string')
      throw new ConfigError(
        `${where} line ${i + 1}: "text" must be a string, got ${JSON.stringify(t)?.slice(0, 60)}`,
        'data',
      );
    out.push(t);
  }
  return out;
}

/** The token stream of the documents, joined with the tokenizer's end-of-text id (or a newline). */
export function encodeDocuments(documents: readonly string[], tok: Tokenizer): Int32Array {
  const sep = tok.eot === null ? tok.encode('\n') : Int32Array.of(tok.eot);
  const parts = documents.map((d) => tok.encode(d));
  const total = parts.reduce((n, p) => n + p.length, 0) + sep.length * Math.max(0, parts.length - 1);
  const out = new Int32Array(total);
  let at = 0;
  parts.forEach((p, i) => {
    if (i > 0) {
      out.set(sep, at);
      at += sep.length;
    }
    out.set(p, at);
    at += p.length;
  });
  return out;
}
