// Public surface of the data layer.
export { loadCorpus, defaultCorpusPath, DEFAULT_CORPUS_FILE, DEFAULT_CORPUS_SHA256 } from './corpus.js';
export { ByteTokenizer, Gpt2Tokenizer, createTokenizer, TOKENIZERS } from './tokenizer.js';
export type { Tokenizer, TokenizerName } from './tokenizer.js';
export { readTextData, parseJsonl, encodeDocuments, formatOf } from './text-data.js';
export type { TextData, TextFormat } from './text-data.js';
export { loadTextDataset, type TextDataset } from './dataset.js';
export { trainValSplit, DEFAULT_VAL_FRACTION } from './split.js';
export type { Split } from './split.js';
export { DistributedSampler, windowPermutation } from './sampler.js';
export type { Batch, SamplerOptions } from './sampler.js';
