// Model presets for `--model`: GPT-2's four published sizes (vocabulary 50257, context 1024), a tiny GPT for
// machines without accelerators, or the dimensions read from a JSON file (zerots' own names, or a Hugging Face
// GPT-2 config.json: n_layer, n_head, n_embd, n_positions or n_ctx, vocab_size). Pure: the caller reads the file.
import { ConfigError } from '../errors.js';
import { didYouMean } from '../config/suggest.js';
import type { GPTConfig } from './gpt.js';

export type ModelDims = Omit<GPTConfig, 'seed'>;

const GPT2 = { vocabSize: 50257, blockSize: 1024 };
export const MODEL_PRESETS: Readonly<Record<string, Readonly<ModelDims>>> = {
  gpt2: { ...GPT2, nLayer: 12, nHead: 12, nEmbd: 768 },
  'gpt2-medium': { ...GPT2, nLayer: 24, nHead: 16, nEmbd: 1024 },
  'gpt2-large': { ...GPT2, nLayer: 36, nHead: 20, nEmbd: 1280 },
  'gpt2-xl': { ...GPT2, nLayer: 48, nHead: 25, nEmbd: 1600 },
  // vocabulary: the tokenizer's (modelForTokenizer); 256 is the byte tokenizer's
  tiny: { vocabSize: 256, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64 },
};

/** A preset by name (gpt2, gpt2-medium, gpt2-large, gpt2-xl, tiny). */
export function modelPreset(name: string): ModelDims {
  const p = MODEL_PRESETS[name];
  if (p === undefined) {
    const names = Object.keys(MODEL_PRESETS);
    throw new ConfigError(
      `unknown model ${JSON.stringify(name)}; use one of ${names.join(', ')} or a FILE.json with the dimensions.` +
        didYouMean(name, names),
      'model',
    );
  }
  return { ...p };
}

const OWN = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const;
const HF: Record<string, (typeof OWN)[number]> = {
  vocab_size: 'vocabSize',
  n_positions: 'blockSize',
  n_ctx: 'blockSize',
  n_layer: 'nLayer',
  n_head: 'nHead',
  n_embd: 'nEmbd',
};

/** Dimensions from parsed JSON; `where` names the file in errors. A Hugging Face config (model_type) may hold more. */
export function modelFromJson(json: unknown, where: string): ModelDims {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new ConfigError(`${where}: the model file must be a JSON object of dimensions`, 'model');
  const o = json as Record<string, unknown>;
  const hf = 'model_type' in o;
  const out: Partial<Record<(typeof OWN)[number], unknown>> = {};
  for (const [k, v] of Object.entries(o)) {
    const own = (OWN as readonly string[]).includes(k) ? (k as (typeof OWN)[number]) : HF[k];
    if (own !== undefined) out[own] ??= v;
    else if (!hf)
      throw new ConfigError(
        `${where}: unknown key "${k}"; allowed: ${OWN.join(', ')} (or a Hugging Face GPT-2 config.json).` +
          didYouMean(k, [...OWN, ...Object.keys(HF)]),
        `model.${k}`,
      );
  }
  for (const k of OWN) {
    const v = out[k];
    if (!(typeof v === 'number' && Number.isSafeInteger(v) && v >= 1))
      throw new ConfigError(`${where}: "${k}" = ${JSON.stringify(v)}; use a whole number >= 1`, `model.${k}`);
  }
  const dims = out as ModelDims;
  if (dims.nEmbd % dims.nHead !== 0)
    throw new ConfigError(`${where}: nEmbd ${dims.nEmbd} is not a multiple of nHead ${dims.nHead}`, 'model.nHead');
  return dims;
}

/** The dimensions with a vocabulary that holds the tokenizer's: tiny takes it; a smaller one is an error. */
export function modelForTokenizer(dims: ModelDims, tokenizerVocab: number, name: string): ModelDims {
  if (name === 'tiny') return { ...dims, vocabSize: tokenizerVocab };
  if (dims.vocabSize < tokenizerVocab)
    throw new ConfigError(
      `model ${name} has a vocabulary of ${dims.vocabSize}, smaller than the tokenizer's ${tokenizerVocab}; use a ` +
        'larger vocabSize or the byte tokenizer',
      'model.vocabSize',
    );
  return dims;
}
