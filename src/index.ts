// The package entry (`import { ... } from 'zerots'`): what one's own model and training loop need. Deeper parts
// (the engine's composed pieces, kernels, transports) stay in their layers; `zerots/<layer>` is not a public path.
export * from './errors.js';
// the engine and its config
export {
  initialize,
  ZeroEngine,
  commOptionsFor,
  type InitializeOptions,
  type StepInfo,
  type TrainableModule,
  type Consolidated,
  type CommOptions,
  type CommOptionsRequest,
} from './zero/index.js';
export {
  resolveConfig,
  policyFromConfig,
  fillAuto,
  describeFilled,
  configNotices,
  type ResolveOptions,
  type AutoValues,
  type FilledValue,
  type ZeroPolicy,
  type ZeroConfig,
} from './config/index.js';
// device memory and tensors
export { Device, HostMemory, Tensor } from './tensor/index.js';
export type { DeviceOptions, HostMemoryOptions, TensorOptions, DType } from './tensor/index.js';
export type { MemoryCategory, MemoryStats } from './tensor/device.js';
// modules, layers, models
export {
  Module,
  Parameter,
  Linear,
  Embedding,
  LayerNorm,
  CausalSelfAttention,
  MLP,
  Block,
  GPT,
  gptNoDecay,
  TiedLMHead,
  MLPClassifier,
  materializeAll,
  type ModuleHook,
  type LayerContext,
  type ParamDType,
  type InitSpec,
  type ModelOptions,
  type GPTConfig,
  type MLPClassifierConfig,
  type TokenBatch,
} from './nn/index.js';
export { MODEL_PRESETS, modelPreset, modelFromJson, modelForTokenizer, type ModelDims } from './nn/presets.js';
// autograd: the tape and its ops
export {
  Tape,
  linear,
  embedding,
  add,
  gelu,
  layerNorm,
  causalAttention,
  crossEntropy,
  paramF32,
  addParamGrad,
  type ParamRef,
  type ParamValue,
  type RegionHooks,
  type TapeState,
} from './autograd/index.js';
// optimizers, schedules, loss scaling (the engine builds them from the config; usable on their own)
export {
  Adam,
  AdamW,
  SGD,
  ConstantLR,
  LRScheduler,
  WarmupLR,
  WarmupDecayLR,
  WarmupCosineLR,
  DynamicLossScaler,
  createOptimizer,
  createScheduler,
  type Optimizer,
  type AdamOptions,
  type SgdOptions,
  type LRSchedule,
} from './optim/index.js';
// ranks and worlds
export { spawnWorld, initFromEnv, type RankContext, type LaunchedRank } from './launch/index.js';
export type { ProcessGroup, Work, CommLog, ReduceOp, CommDType } from './comm/types.js';
// data
export {
  loadCorpus,
  ByteTokenizer,
  Gpt2Tokenizer,
  createTokenizer,
  readTextData,
  encodeDocuments,
  loadTextDataset,
  trainValSplit,
  DistributedSampler,
  windowPermutation,
  type Tokenizer,
  type TextDataset,
  type Batch,
  type SamplerOptions,
} from './data/index.js';
export { modelStatesBytes, commBytesPerRank } from './estimate/index.js';
export { createKernels, kernelScratchBytes } from './kernels/index.js';
export {
  consolidateCheckpoint,
  loadModelWeights,
  readManifest,
  SafetensorsReader,
  SafetensorsWriter,
  type LoadReport,
  type SaveOptions,
} from './checkpoint/index.js';
