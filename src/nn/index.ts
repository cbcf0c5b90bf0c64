// The nn layer: modules over the autograd tape, GPT-2's architecture and names.
export { Parameter, type ParamDType } from './parameter.js';
export { Module, type ModuleHook } from './module.js';
export { initInto, hashName, type InitSpec } from './init.js';
export { Linear, Embedding, LayerNorm, type LayerContext } from './layers.js';
export { CausalSelfAttention, MLP, Block } from './transformer.js';
export { GPT, gptNoDecay, TiedLMHead, flattenBatch, type GPTConfig, type TokenBatch } from './gpt.js';
export { MLPClassifier, type MLPClassifierConfig } from './mlp-classifier.js';
export { materializeAll, type ModelOptions } from './model-options.js';
