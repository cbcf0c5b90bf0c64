// The package entry: `import { initialize, GPT, Device, spawnWorld, initFromEnv } from 'zerots'`.
// Each layer's own index.ts has the rest.
export * from './errors.js';
export { initialize, ZeroEngine, type InitializeOptions, type StepInfo, type TrainableModule } from './zero/index.js';
export { resolveConfig, policyFromConfig } from './config/index.js';
export { Device, HostMemory, Tensor } from './tensor/index.js';
export type { MemoryCategory, MemoryStats } from './tensor/device.js';
export { GPT, gptNoDecay, MLPClassifier, Module, Parameter, type GPTConfig, type TokenBatch } from './nn/index.js';
export { Tape } from './autograd/index.js';
export { spawnWorld, initFromEnv, type RankContext } from './launch/index.js';
export type { ProcessGroup, Work, CommLog, ReduceOp, CommDType } from './comm/types.js';
export { loadCorpus, ByteTokenizer, trainValSplit, DistributedSampler } from './data/index.js';
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
