export { linear } from './linear.js';
export { embedding } from './embedding.js';
export { add } from './add.js';
export { gelu } from './gelu.js';
export { layerNorm } from './layer-norm.js';
export { causalAttention } from './attention.js';
export { crossEntropy } from './cross-entropy.js';
