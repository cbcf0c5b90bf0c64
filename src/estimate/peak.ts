// The peak device bytes of a training rank, and the host bytes under offload, predicted from the model's dimensions
// (GPT-2 architecture), the micro-batch, the ZeRO stage, the precision, activation checkpointing and offload.
// [Note: the predicted peak] DeepSpeed's estimators count model states only (DeepSpeed #4527: 0.49 GB predicted,
// 14-21 GB measured). Here the peak is
//   resident (model states at rest, kernel and comm scratch)
//   + max(backward: activations at their peak (src/nn/activation-bytes.ts, byte-exact) + gathered parameters
//         (stage 3) + gradient buckets being filled (stages 2, 3) + the op workspaces live at that moment,
//         step: the fp32 gradient workspace of one bucket's segment (mixed precision on the device)).
// Model states follow the paper's formula (estimate/memory.ts). The transient terms follow the engine's rules with
// its bucket sizes: gradient buckets are whole parameters packed in registration order up to reduce_bucket_size;
// stage 3's gathered parameters are the most its fetch schedule holds at once, replayed step by step over the
// engine's gather units (estimate/gathered.ts: persistence, prefetch, reuse distance, a checkpointed block held from
// its recompute to its backward).
import { gptActivationBytes } from '../nn/activation-bytes.js';
import { gptGatheredPeak } from './gathered.js';
import { BYTES, type Stage } from './memory.js';
import { ShapeError } from '../errors.js';
import { kernelScratchBytes } from '../kernels/scratch.js';
import { stepWorkspaceElements } from '../zero/optimizer-state.js';
import { TMP_BYTES } from '../zero/offload/adam-job.js';
import { GRAD_ADD_WORKSPACE_BYTES } from '../zero/offload/host-grad-shard.js';
import { MAX_DEVICE_BYTES, RESERVED_BYTES } from '../tensor/device.js';

export interface GptDims {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
}

export interface PeakInput {
  model: GptDims;
  micro: number;
  /** sequence length (default blockSize) */
  T?: number;
  worldSize: number;
  stage: Stage;
  precision: 'fp32' | 'bf16' | 'fp16';
  /** activation checkpointing of every block (true) or per block */
  checkpointing?: boolean | readonly boolean[];
  cpuCheckpointing?: boolean;
  offloadOptimizer?: boolean;
  offloadParam?: boolean;
  /**
   * Offloaded step: host threads (default 1; the engine's default is every core, shared by the ranks of a machine)
   * and sub-groups (default: as the engine cuts the partition with DeepSpeed's sub_group_size 1e9 and one arena's
   * room); each sub-group holds a 32 KiB workspace per thread.
   */
  offloadThreads?: number;
  offloadSubGroups?: number;
  /** elements; unset: the engine's model-sized defaults (h^2, 0.9 h^2, 10 h; src/config/model-sized.ts) */
  reduceBucketSize?: number;
  prefetchBucketSize?: number;
  persistenceThreshold?: number;
  maxReuseDistance?: number;
  /** stage3_max_live_parameters (default DeepSpeed's 1e9) */
  maxLiveParameters?: number;
  /** the threads transport's scratch (default 1 MiB) and the kernels' GEMM scratch */
  commScratchBytes?: number;
  kernelScratchBytes?: number;
}

export interface PeakBreakdown {
  modelStates: { param: number; grad: number; optimizer: number };
  activations: number;
  gathered: number;
  buckets: number;
  workspace: number;
  step: number;
  fixed: number;
  /** the two candidates for the transient peak above the resident bytes: backward and the optimizer step */
  backwardTransient: number;
  stepTransient: number;
  /** predicted peak device bytes per rank */
  total: number;
  /** host bytes: offloaded optimizer state (fp32 master, m, v; stages 2-3 the gradient shard), parameters, checkpoints */
  host: number;
  /** share of the blocks that are checkpointed (0..1): sets the fragmentation allowance (fitsCapacity) */
  checkpointedShare: number;
  /** stage 3 releasing groups between forward and backward: a checkpointed block's recompute gathers them again */
  regathers: boolean;
}

/** Sub-groups of an offloaded partition of `shard` elements: as src/zero/make-optimizer-state.ts cuts it. */
function subGroupCount(shard: number, threads: number, subGroupSize = 1e9): number {
  const room = MAX_DEVICE_BYTES - RESERVED_BYTES - kernelScratchBytes() - threads * TMP_BYTES - (1 << 20);
  return Math.max(1, Math.ceil(shard / Math.min(subGroupSize, Math.floor(room / 12))));
}

/** The GPT's parameters in registration order (GPT-2 state-dict order), as element counts, with module tags. */
export function gptParams(m: GptDims): { name: string; numel: number; module: string }[] {
  const C = m.nEmbd;
  const out = [
    { name: 'wte.weight', numel: m.vocabSize * C, module: 'wte' },
    { name: 'wpe.weight', numel: m.blockSize * C, module: 'wpe' },
  ];
  for (let l = 0; l < m.nLayer; l++) {
    const p = (name: string, numel: number, module: string) =>
      out.push({ name: `h.${l}.${name}`, numel, module: `h.${l}.${module}` });
    p('ln_1.weight', C, 'ln_1');
    p('ln_1.bias', C, 'ln_1');
    p('attn.c_attn.weight', 3 * C * C, 'attn.c_attn');
    p('attn.c_attn.bias', 3 * C, 'attn.c_attn');
    p('attn.c_proj.weight', C * C, 'attn.c_proj');
    p('attn.c_proj.bias', C, 'attn.c_proj');
    p('ln_2.weight', C, 'ln_2');
    p('ln_2.bias', C, 'ln_2');
    p('mlp.c_fc.weight', 4 * C * C, 'mlp.c_fc');
    p('mlp.c_fc.bias', 4 * C, 'mlp.c_fc');
    p('mlp.c_proj.weight', 4 * C * C, 'mlp.c_proj');
    p('mlp.c_proj.bias', C, 'mlp.c_proj');
  }
  out.push({ name: 'ln_f.weight', numel: C, module: 'ln_f' }, { name: 'ln_f.bias', numel: C, module: 'ln_f' });
  return out;
}

/** Buckets as the engine packs them: consecutive parameters while the total stays within `bound` elements. */
function bucketSizes(sizes: readonly number[], bound: number): number[] {
  const out: number[] = [];
  let cur = 0;
  for (const n of sizes) {
    if (cur > 0 && cur + n > bound) {
      out.push(cur);
      cur = 0;
    }
    cur += n;
  }
  if (cur > 0) out.push(cur);
  return out;
}

export function predictPeak(x: PeakInput): PeakBreakdown {
  const N = x.worldSize;
  const m = x.model;
  const T = x.T ?? m.blockSize;
  if (!(Number.isInteger(x.micro) && x.micro >= 1)) throw new ShapeError(`predictPeak: micro = ${x.micro}`);
  const params = gptParams(m);
  const P = params.reduce((s, p) => s + p.numel, 0);
  const half = x.precision !== 'fp32';
  const e = half ? 2 : 4;
  const b = BYTES[half ? 'mixed' : 'fp32'];
  const offOpt = (x.offloadOptimizer ?? false) && x.stage >= 1;
  const offPar = (x.offloadParam ?? false) && x.stage === 3;
  const param = offPar ? 0 : x.stage >= 3 ? (b.param * P) / N : b.param * P;
  // stages 2-3 under optimizer offload: each reduced bucket's shard moves to the host at once (only the staging
  // buckets stay on the device, counted below)
  const gradToHost = offOpt && x.stage >= 2;
  const grad = gradToHost ? 0 : x.stage >= 2 ? (b.grad * P) / N : b.grad * P;
  const optimizer = offOpt ? 0 : (b.optimizer * P) / (x.stage >= 1 ? N : 1);
  const fixed = (x.commScratchBytes ?? 1 << 20) + (x.kernelScratchBytes ?? kernelScratchBytes());
  const ckpt =
    x.checkpointing === undefined || x.checkpointing === false
      ? []
      : x.checkpointing === true
        ? Array.from({ length: m.nLayer }, () => true)
        : x.checkpointing;
  const act = gptActivationBytes(m, x.micro, T, {
    activationDType: half ? (x.precision === 'bf16' ? 'bf16' : 'f16') : 'f32',
    checkpointed: ckpt,
    cpuCheckpointing: x.cpuCheckpointing ?? false,
    workspace: { paramCopies: half, gradContribution: half || x.stage >= 2, gradAdd: half },
  });
  const C = m.nEmbd;
  // unset: the engine's defaults for a model with a hidden size (src/config/model-sized.ts: h^2, 0.9 h^2, 10 h)
  const bucket = x.reduceBucketSize ?? C * C;
  const prefetch = x.prefetchBucketSize ?? Math.floor(0.9 * C * C);
  const persist = x.persistenceThreshold ?? 10 * C;
  // stage 2/3: buckets being filled while backward runs: the one being filled and the tied wte's (open from the LM
  // head's backward to the embedding's)
  let buckets = 0;
  if (x.stage >= 2) {
    const sizes = bucketSizes(
      params.map((p) => p.numel),
      bucket,
    );
    // the buckets of the module whose backward runs (its weight and bias may sit in two) and the tied wte's
    const moduleElems = Math.max(4 * C * C + 4 * C, 3 * C * C + 3 * C, ...sizes.slice(1));
    buckets = e * Math.min(P, Math.min(moduleElems, P - sizes[0]) + sizes[0]);
  }
  // stage 3: gathered groups, the engine's schedule replayed (gathered.ts); stage3_max_reuse_distance unset: the
  // engine's model-sized 0.9 h^2 ([Note: a model-sized reuse distance] in src/config/model-sized.ts)
  const g3 =
    x.stage === 3
      ? gptGatheredPeak(m, {
          prefetch,
          persistence: persist,
          reuse: x.maxReuseDistance ?? Math.floor(0.9 * C * C),
          maxLive: x.maxLiveParameters ?? 1e9,
          checkpointed: Array.from({ length: m.nLayer }, (_, l) => ckpt[l] ?? false),
        })
      : { peak: 0, atStep: 0 };
  const gathered = e * g3.peak;
  // op workspaces with the activations: replayed op by op (src/nn/activation-bytes.ts)
  const workspace = act.peakWithWorkspace - act.peak;
  // the 16-bit step's fp32 workspace: one bucket's segment at most ([Note: bucket-sized step workspace])
  const segments = bucketSizes(
    params.map((p) => p.numel),
    bucket,
  ).map((s) => (x.stage >= 1 ? s / N : s));
  const step = half && !offOpt ? 4 * stepWorkspaceElements(x.stage >= 1 ? P / N : P, segments) : 0;
  const backward = act.peakWithWorkspace + gathered + buckets;
  const stepTransient = step + e * g3.atStep;
  const total = param + grad + optimizer + fixed + Math.max(backward, stepTransient);
  // the offloaded step's workspace: per sub-group, TMP_BYTES per host thread (src/zero/offload/adam-job.ts); the
  // partition is cut into sub-groups of at most sub_group_size elements and at most what one arena holds
  const threads = x.offloadThreads ?? 1;
  const subGroups = x.offloadSubGroups ?? subGroupCount(P / N, threads);
  const hostWorkspace = offOpt ? subGroups * threads * TMP_BYTES : 0;
  // fp32 master, m, v (12 bytes); stages 2-3: the reduced gradient shard in the gradients' dtype and its add's
  // workspace (src/zero/offload/host-grad-shard.ts). Stage 1 keeps its gradients on the device: nothing more.
  const host =
    (offOpt ? (12 * P) / N + (gradToHost ? (b.grad * P) / N + GRAD_ADD_WORKSPACE_BYTES : 0) : 0) +
    (offPar ? (b.param * P) / N : 0) +
    act.host +
    hostWorkspace;
  return {
    modelStates: { param, grad, optimizer },
    activations: act.peak,
    gathered,
    buckets,
    workspace,
    step,
    fixed,
    backwardTransient: backward,
    stepTransient,
    total,
    host,
    checkpointedShare: m.nLayer === 0 ? 0 : ckpt.filter(Boolean).length / m.nLayer,
    regathers: x.stage === 3 && g3.peak < P,
  };
}

/**
 * [Note: fragmentation allowance] the peak above counts requested bytes, which is what the allocator accounts; its
 * best-fit free list also leaves holes between tensors of different lifetimes (forward's fp32 outputs freed after
 * their 16-bit saved copies were placed above them, backward's gradients and workspaces freed in another order than
 * allocated), so a device runs out before requested bytes reach its capacity. The holes come from backward's
 * transient part, not from the model states allocated once at start-up, nor from the step's workspace (one block
 * allocated after backward freed the activations). The allocator's spanBytes shows them: 6-20% of the backward
 * transient without checkpointing, 8-24% with it (a checkpointed block's recompute places its activations in the
 * holes backward left). A micro-batch is predicted to fit when
 *   resident + max((1 + f) x backward transient, step transient) <= capacity,
 * with f = FRAGMENTATION without checkpointing, FRAGMENTATION_CHECKPOINTED with every block checkpointed (in
 * between in proportion to the checkpointed blocks). Both are fitted, not derived: against the largest micro-batch
 * found by real out-of-memory errors in `zerots bench memory` (2 shapes x 14 combinations, 2 ranks, bf16), every
 * f in [0.08, 0.17] predicts each plain case within 1 (0.12 hits 12 of 14 exactly), and f in [0.17, 0.18] each
 * checkpointed one; a shape unlike those two may miss by more.
 */
export const FRAGMENTATION = 0.12;
export const FRAGMENTATION_CHECKPOINTED = 0.175;
/**
 * Stage 3 with groups released after forward ([Note: a model-sized reuse distance]): each checkpointed block's
 * recompute gathers its groups again between the recomputed activations and backward frees them module by module,
 * leaving more holes. Fitted like the two above, on the by-hand experiment (tools/by-hand-max-batch.mjs 144: GPT
 * 4 x 384, 2 ranks): its stage-3 checkpointed cases need f in (0.224, 0.236], its stage 1-2 ones (0.114, 0.152].
 */
export const FRAGMENTATION_CHECKPOINTED_REGATHER = 0.23;

/** The fragmentation allowance for a peak: by the share of checkpointed blocks (and whether stage 3 re-gathers). */
export function fragmentationFor(p: PeakBreakdown): number {
  const ckpt = p.regathers ? FRAGMENTATION_CHECKPOINTED_REGATHER : FRAGMENTATION_CHECKPOINTED;
  return FRAGMENTATION + (ckpt - FRAGMENTATION) * p.checkpointedShare;
}

/** Whether the predicted peak, with the fragmentation allowance on its transient part, fits `capacityBytes`. */
export function fitsCapacity(p: PeakBreakdown, capacityBytes: number, fragmentation = fragmentationFor(p)): boolean {
  const resident = p.modelStates.param + p.modelStates.grad + p.modelStates.optimizer + p.fixed;
  // the step's workspace comes when backward has freed the activations: one block in an emptied memory
  return resident + Math.max(p.backwardTransient * (1 + fragmentation), p.stepTransient) <= capacityBytes;
}

/** The largest micro-batch predicted to fit (fitsCapacity); `fragmentation` overrides the per-mode allowance. */
export function largestMicroBatch(
  x: Omit<PeakInput, 'micro'>,
  capacityBytes: number,
  limit = 4096,
  fragmentation?: number,
): number {
  const fits = (micro: number) => fitsCapacity(predictPeak({ ...x, micro }), capacityBytes, fragmentation);
  let lo = 0;
  let hi = 1;
  while (hi <= limit && fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  hi = Math.min(hi, limit + 1);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
