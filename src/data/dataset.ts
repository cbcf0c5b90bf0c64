// The token stream a training run reads: the user's --data file (text-data.ts) or the shipped corpus, through the
// chosen tokenizer. The byte tokenizer on the shipped corpus gives its bytes unchanged (what the demo trains on).
import { defaultCorpusPath, loadCorpus } from './corpus.js';
import { encodeDocuments, readTextData } from './text-data.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

export interface TextDataset {
  readonly tokens: Uint8Array | Int32Array;
  readonly tokenizer: Tokenizer;
  /** the file read */
  readonly source: string;
  readonly documents: number;
}

export async function loadTextDataset(opts: { data?: string; tokenizer?: string } = {}): Promise<TextDataset> {
  const tokenizer = await createTokenizer(opts.tokenizer ?? 'byte');
  if (opts.data === undefined) {
    const source = defaultCorpusPath();
    const bytes = loadCorpus(source);
    const tokens = tokenizer.name === 'byte' ? bytes : tokenizer.encode(new TextDecoder().decode(bytes));
    return { tokens, tokenizer, source, documents: 1 };
  }
  const d = readTextData(opts.data);
  return {
    tokens: encodeDocuments(d.documents, tokenizer),
    tokenizer,
    source: opts.data,
    documents: d.documents.length,
  };
}
