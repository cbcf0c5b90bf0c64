// Byte-level tokenizer: a token is one byte of the UTF-8 text, so the vocabulary is exactly 256 and any text
// (and any binary file) round-trips. Models may use a larger vocabulary (GPT-2's 50257); ids >= 256 never occur.
export class ByteTokenizer {
  readonly vocabSize = 256;

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
