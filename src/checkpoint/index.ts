// Checkpoints: sharded, atomic, resumable at any world size and stage; weights in and out as safetensors.
export { saveCheckpoint, kindsOf } from './save.js';
export { loadCheckpoint, planPieces } from './load.js';
export { consolidateCheckpoint, type ConsolidateOptions, type ConsolidateReport } from './consolidate.js';
export {
  saveWeightsFromState,
  loadWeightsIntoState,
  openWeights,
  weightsFile,
  type WeightsInReport,
  type WeightsOutOptions,
} from './weights.js';
export { loadModelWeights } from './model-weights.js';
export { readManifest, FORMAT_VERSION, tensorName, shardFileName, type Manifest } from './manifest.js';
export { resolveCheckpointDir, LATEST, MANIFEST } from './atomic.js';
export { SafetensorsReader, SafetensorsWriter, encodeHeader, sha256File } from './safetensors.js';
export { gpt2ConfigJson, toHfName } from './hf-gpt2.js';
export type * from './types.js';
