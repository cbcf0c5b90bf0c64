// Public surface of the data layer.
export { loadCorpus, defaultCorpusPath, DEFAULT_CORPUS_FILE, DEFAULT_CORPUS_SHA256 } from './corpus.js';
export { ByteTokenizer } from './tokenizer.js';
export { trainValSplit, DEFAULT_VAL_FRACTION } from './split.js';
export type { Split } from './split.js';
export { DistributedSampler, windowPermutation } from './sampler.js';
export type { Batch, SamplerOptions } from './sampler.js';
