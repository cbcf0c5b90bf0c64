// Tokenizers behind one interface: bytes (vocabulary 256; any text and any binary file round-trip) and GPT-2's
// byte-level BPE (vocabulary 50257, through the gpt-tokenizer package, loaded on first use: its tables are large).
// Models may use a larger vocabulary than the tokenizer's (ids past it never occur); never a smaller one.
import { ConfigError } from '../errors.js';
import { didYouMean } from '../config/suggest.js';

export interface Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  /** The id put between documents (GPT-2's <|endoftext|>); null: documents are joined with a newline. */
  readonly eot: number | null;
  encode(text: string): Int32Array;
  decode(tokens: ArrayLike<number>): string;
}

export class ByteTokenizer implements Tokenizer {
  readonly name = 'byte';
  readonly vocabSize = 256;
  readonly eot = null;

  encode(text: string): Int32Array {
    return Int32Array.from(new TextEncoder().encode(text));
  }

  /** Token ids back to text; invalid UTF-8 (a window cut inside a character) decodes to U+FFFD. */
  decode(tokens: ArrayLike<number>): string {
    const bytes = new Uint8Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t > 255)
        throw new RangeError(`ByteTokenizer.decode: token ${t} at ${i} is not a byte (0..255)`);
      bytes[i] = t;
    }
    return new TextDecoder().decode(bytes);
  }
}

interface Gpt2Module {
  encode(text: string): number[];
  decode(tokens: Iterable<number>): string;
  vocabularySize: number;
}

/** GPT-2's BPE (its 50257 ids; 50256 is <|endoftext|>). Build it with createTokenizer('gpt2'). */
export class Gpt2Tokenizer implements Tokenizer {
  readonly name = 'gpt2';
  readonly vocabSize = 50257;
  readonly eot = 50256;

  private constructor(private readonly bpe: Gpt2Module) {}

  static async load(): Promise<Gpt2Tokenizer> {
    const bpe = (await import('gpt-tokenizer/encoding/gpt2')) as Gpt2Module;
    return new Gpt2Tokenizer(bpe);
  }

  /** Text to ids; "<|endoftext|>" written in the text is encoded as text, never as the document separator. */
  encode(text: string): Int32Array {
    return Int32Array.from(this.bpe.encode(text));
  }

  decode(tokens: ArrayLike<number>): string {
    return this.bpe.decode(Array.from(tokens));
  }
}

export const TOKENIZERS = ['byte', 'gpt2'] as const;
export type TokenizerName = (typeof TOKENIZERS)[number];

export async function createTokenizer(name: string): Promise<Tokenizer> {
  if (name === 'byte') return new ByteTokenizer();
  if (name === 'gpt2') return Gpt2Tokenizer.load();
  throw new ConfigError(
    `unknown tokenizer ${JSON.stringify(name)}; use one of ${TOKENIZERS.join(', ')}.${didYouMean(name, TOKENIZERS)}`,
    'tokenizer',
  );
}
