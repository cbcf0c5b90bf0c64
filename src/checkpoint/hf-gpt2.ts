// Hugging Face's GPT-2 layout: zerots's GPT already uses GPT-2's parameter names and Conv1D [in, out] weights
// (src/nn/gpt.ts), so a state dict of GPT2LMHeadModel is the same tensors under `transformer.` with the LM head
// tied to wte (GPT-2's safetensors files omit `lm_head.weight`; from_pretrained ties it). config.json carries
// GPT2Config's keys: GELU tanh ("gelu_new"), LayerNorm eps 1e-5, no dropout (zerots trains without it).
import { readFileSync } from 'node:fs';
import { f32ToHalfArray, halfToF32Array } from '../tensor/dtype.js';
import { CheckpointError } from '../errors.js';
import type { SafeDType } from './safetensors.js';

/** A GPT's dimensions (src/nn/gpt.ts GPTConfig). */
export interface GptDims {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
}

export const HF_PREFIX = 'transformer.';

export function toHfName(name: string): string {
  return HF_PREFIX + name;
}

/** Tensors of a GPT-2 file that are not parameters here: the tied head and the attention masks (buffers). */
export function ignoredHfName(hf: string): boolean {
  return hf === 'lm_head.weight' || /\.attn\.(bias|masked_bias)$/.test(hf);
}

export function isGptDims(x: unknown): x is GptDims {
  const c = x as Record<string, unknown> | null;
  return (
    c !== null &&
    typeof c === 'object' &&
    ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'].every((k) => typeof c[k] === 'number')
  );
}

export function gpt2ConfigJson(d: GptDims, dtype: 'fp32' | 'bf16' | 'fp16'): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: d.vocabSize,
    n_positions: d.blockSize,
    n_ctx: d.blockSize,
    n_embd: d.nEmbd,
    n_layer: d.nLayer,
    n_head: d.nHead,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    bos_token_id: d.vocabSize - 1,
    eos_token_id: d.vocabSize - 1,
    torch_dtype: dtype === 'fp32' ? 'float32' : dtype === 'bf16' ? 'bfloat16' : 'float16',
  };
}

/** GPT dimensions from a config.json in GPT2Config's keys. */
export function dimsFromGpt2Config(path: string): GptDims {
  let j: Record<string, number>;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>;
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read GPT2Config (${(e as Error).message})`);
  }
  return {
    vocabSize: j.vocab_size,
    blockSize: j.n_positions ?? j.n_ctx,
    nLayer: j.n_layer,
    nHead: j.n_head,
    nEmbd: j.n_embd,
  };
}

export function safeDType(d: 'fp32' | 'bf16' | 'fp16'): SafeDType {
  return d === 'fp32' ? 'F32' : d === 'bf16' ? 'BF16' : 'F16';
}

/** fp32 values as the bytes of `dtype`. */
export function encodeAs(values: Float32Array, dtype: SafeDType): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const h = f32ToHalfArray(values, dtype === 'BF16' ? 'bf16' : 'f16');
  return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
}

/** Bytes of F32 / BF16 / F16 elements as fp32 values. */
export function decodeToF32(bytes: Uint8Array, dtype: SafeDType, count: number, where: string): Float32Array {
  if (dtype === 'F32') return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  if (dtype === 'BF16' || dtype === 'F16')
    return halfToF32Array(new Uint16Array(bytes.buffer, bytes.byteOffset, count), dtype === 'BF16' ? 'bf16' : 'f16');
  throw new CheckpointError(`${where}: dtype ${dtype} is not a floating-point weight (F32, BF16 or F16 are)`);
}
