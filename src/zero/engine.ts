// The ZeRO engine: initialize({ model, config, group, device }) -> engine with forward, backward, step.
// The policy (config/policy.ts) picks three parts (a GradientReducer, a ParameterStore, the OptimizerState's
// placement) and step() reads like the paper: reduce the gradients, agree on the global norm, clip, update this
// rank's shard, gather the updated parameters. No stage numbers below this line.
import { type EngineBackends, engineBackends } from './backends.js';
import { Tape } from '../autograd/tape.js';
import type { CommLog, ProcessGroup } from '../comm/types.js';
import { policyFromConfig, type ZeroPolicy } from '../config/policy.js';
import { tapeOptionsFor } from '../config/activation-checkpointing.js'; // issue 9
import { isResolvedConfig, resolveConfig } from '../config/resolve.js';
import type { ZeroConfig } from '../config/types.js';
import { ConfigError, NumericsError, StateError } from '../errors.js';
import type { Module } from '../nn/module.js';
import {
  createOptimizer,
  createScheduler,
  DynamicLossScaler,
  unscaleAndClip,
  type LRScheduler,
  type Optimizer,
} from '../optim/index.js';
import type { Device, MemoryStats } from '../tensor/device.js';
import type { HostMemory } from '../tensor/host.js';
import type { Tensor } from '../tensor/tensor.js';
import { buildPlan } from './build-plan.js';
import { FlatBuffer } from './flat-buffer.js';
import { makeGradientReducer } from './grad-reducer.js';
import type { GradientReducer } from './gradient-reducer.js';
import { HostGradShard } from './offload/host-grad-shard.js';
import type { PreparedUpdate } from './optimizer-state.js';
import { checkHostMemory, makeOptimizerState } from './make-optimizer-state.js';
import type { OffloadAccounting, OptimizerStatePart } from './optimizer-part.js';
import { locateNonFinite, nonFiniteNormError } from './step-checks.js';
import { ParamFetcher, type ShardIOStats } from './param-fetcher.js';
import { makeParamShard } from './make-param-shard.js';
import type { ZeroPlan } from './plan.js';
import type { ParameterStore } from './parameter-store.js';
import { ReplicatedParams } from './replicated-params.js';
import { consolidate, type Consolidated } from './consolidate.js';
import { normSlots, readNormSlots, writeNormSlots } from './norm-exchange.js';
import { ReadinessTracker } from './readiness.js';
// checkpoints (issue 8)
import { loadCheckpoint, saveCheckpoint } from '../checkpoint/index.js';
import {
  loadWeightsIntoState,
  saveWeightsFromState,
  type WeightsInReport,
  type WeightsOutOptions,
} from '../checkpoint/index.js';
import type { LoadOptions, LoadReport, SaveOptions, ShardedState } from '../checkpoint/types.js';
import { shardedState } from './checkpoint-state.js';

/** A model the engine can drive: a Module whose forward(tape, ...inputs) returns at least the loss. */
export interface TrainableModule extends Module {
  forward(tape: Tape, ...inputs: never[]): { loss: Tensor | null };
  /** The model's hidden size, when it has one (GPT: n_embd): sizes the bucket keys a config leaves unset. */
  readonly hiddenSize?: number;
}

export interface InitializeOptions<M extends TrainableModule> {
  model: M;
  /** DeepSpeed JSON config (validated here) or an already resolved ZeroConfig. */
  config: unknown;
  group: ProcessGroup;
  /** This rank's device; default the model's `device` (GPT and the MLP classifier have one). */
  device?: Device;
  /** Host memory for offload_optimizer "cpu" and "nvme" (nvme: its swap buffers). */
  host?: HostMemory;
  /** Threads of the offloaded optimizer step, the caller's included (default: every core, shared by the ranks on
   * the machine: max(1, floor(cores / localWorldSize))). */
  offloadThreads?: number;
  /** Ranks sharing this machine's cores (default: the group's world size, i.e. all on one machine). */
  localWorldSize?: number;
  /** A client optimizer when the config has none (DeepSpeed's optimizer= argument). */
  optimizer?: Optimizer;
  /** Parameters without weight decay (e.g. biases and LayerNorm gains); default none, as DeepSpeed. */
  noDecay?: (name: string, shape: readonly number[]) => boolean;
  /**
   * The hidden size h that sizes reduce_bucket_size, stage3_prefetch_bucket_size and
   * stage3_param_persistence_threshold when a JSON config leaves them unset (h^2, 0.9 h^2, 10 h; src/config/
   * model-sized.ts, said in `engine.config.sizedFromModel`); default the model's `hiddenSize`. Not read for an
   * already resolved config.
   */
  hiddenSize?: number;
}

export interface StepInfo {
  /** false when fp16 overflow skipped the step */
  applied: boolean;
  /** global gradient norm before clipping (unscaled) */
  gradNorm: number;
  /** learning rate the step used */
  lr: number;
  lossScale: number;
}

export class ZeroEngine<M extends TrainableModule> {
  readonly policy: ZeroPolicy;
  readonly plan: ZeroPlan;
  readonly optimizer: Optimizer;
  readonly scheduler: LRScheduler;
  readonly scaler: DynamicLossScaler | null;
  private readonly reducer: GradientReducer;
  private readonly store: ParameterStore;
  private readonly state: OptimizerStatePart;
  private readonly scalar: FlatBuffer;
  /** Gradient readiness, for reducers that work during backward (null otherwise). */
  private readonly readiness: ReadinessTracker | null;
  private tape: Tape | null = null;
  private loss: Tensor | null = null;
  private microSteps = 0;
  globalSteps = 0;

  constructor(
    readonly model: M,
    readonly config: ZeroConfig,
    readonly group: ProcessGroup,
    readonly device: Device,
    opts: InitializeOptions<M>,
  ) {
    this.policy = policyFromConfig(config);
    if (config.worldSize !== group.worldSize) {
      throw new ConfigError(
        `the config was resolved for world size ${config.worldSize}, the process group has ${group.worldSize} ranks`,
        'worldSize',
      );
    }
    checkHostMemory(this.policy, opts.host);
    const optimizer = opts.optimizer ?? (config.optimizer === null ? null : createOptimizer(config.optimizer));
    if (optimizer === null)
      throw new ConfigError(
        'no optimizer: add "optimizer": {"type": "AdamW", "params": {...}} to the config, or pass one to initialize()',
        'optimizer',
      );
    this.optimizer = optimizer;
    this.scheduler = createScheduler(config.scheduler, optimizer.lr);
    const built = buildPlan(model, this.policy, device, group);
    this.plan = built.plan;
    const f = this.policy.parameterFetcher;
    this.store =
      f.kind === 'gather-per-module'
        ? new ParamFetcher(this.plan, built.params, built.moduleGroups, {
            prefetchElements: f.prefetchElements,
            persistenceThreshold: f.persistenceThreshold,
            maxLiveElements: f.maxLiveElements,
            maxReuseDistance: f.maxReuseDistance,
            overlapComm: this.policy.gradientReducer.overlapComm,
            shard: makeParamShard(this.policy, this.plan, optimizer, opts.host),
          })
        : new ReplicatedParams(this.plan, built.params, f.kind);
    const host = opts.host;
    this.reducer = makeGradientReducer(this.policy.gradientReducer.kind, this.plan, {
      overlapComm: this.policy.gradientReducer.overlapComm,
      hostShard:
        this.policy.gradShardPlacement === 'host' && host !== undefined
          ? () => new HostGradShard(host, device, this.plan.layout.shardNumel, this.plan.dtype)
          : undefined,
    });
    this.reducer.bind(built.params);
    const during = this.reducer.duringBackward;
    this.readiness =
      during === null
        ? null
        : new ReadinessTracker(
            model.modules(),
            built.params,
            (i) => during.paramReady(i),
            (i) => during.prepare(i),
          );
    try {
      this.state = makeOptimizerState(this.policy, this.plan, optimizer, this.store, opts);
    } catch (e) {
      this.store.dispose(); // an nvme parameter shard's swap file is removed with it
      throw e;
    }
    this.scalar = FlatBuffer.zeros(
      device,
      normSlots(group.worldSize),
      'f32',
      'comm',
      'gradient norm partials and reduction order ([Note: exact norm exchange])',
    );
    this.scaler =
      this.policy.lossScaling === 'none'
        ? null
        : new DynamicLossScaler({
            lossScale: config.fp16.lossScale,
            initialScalePower: config.fp16.initialScalePower,
            lossScaleWindow: config.fp16.lossScaleWindow,
            hysteresis: config.fp16.hysteresis,
            consecutiveHysteresis: config.fp16.consecutiveHysteresis,
            minLossScale: config.fp16.minLossScale,
          });
  }

  /** Runs the model's forward on a fresh tape; keep the returned loss for backward(). */
  forward(...inputs: Parameters<M['forward']> extends [Tape, ...infer R] ? R : never): ReturnType<M['forward']> {
    // issue 9: 16-bit saved activations under bf16/fp16; activation_checkpointing.cpu_checkpointing
    if (this.tape === null)
      this.tape = new Tape(this.device, tapeOptionsFor(this.policy.precision, this.config.activationCheckpointing));
    if (this.loss !== null)
      throw new StateError('forward() twice without backward(): call backward() after each forward()');
    const out = (this.model.forward as (t: Tape, ...a: unknown[]) => { loss: Tensor | null })(this.tape, ...inputs);
    this.store.endPass?.();
    if (out.loss === null) throw new StateError('forward() returned no loss: pass targets');
    this.loss = out.loss;
    return out as ReturnType<M['forward']>;
  }

  /** Backpropagates the last forward's loss, scaled for loss scaling and accumulation; returns the loss value. */
  backward(): number {
    if (this.loss === null || this.tape === null) throw new StateError('backward() without forward()');
    const scale = (this.scaler?.scale ?? 1) / this.config.gradientAccumulationSteps;
    const value = this.tape.backward(this.loss, scale);
    this.tape.clear();
    this.loss = null;
    this.store.endPass?.();
    this.reducer.duringBackward?.afterBackward();
    this.readiness?.reset();
    this.microSteps++;
    return value;
  }

  /** Whether the next step() call updates (the accumulation boundary). */
  get atBoundary(): boolean {
    return this.microSteps > 0 && this.microSteps % this.config.gradientAccumulationSteps === 0;
  }

  /**
   * Call after every backward(); updates at the accumulation boundary (returns null elsewhere), as DeepSpeed's step().
   * The phases of the paper, in order. Everything that can fail for a reason other than a lost peer (the workspace,
   * the agreed norm and its finiteness, the reduction-order check, the clipping coefficient, the loss scaler's
   * decision) happens before anything the step updates is written, so a step that throws leaves parameters, master
   * weights, optimizer state, counters, the scheduler and the loss scaler as they were; the gradients are zeroed and
   * the engine stays usable (failTogether).
   */
  step(): StepInfo | null {
    if (!this.atBoundary) return null;
    this.microSteps = 0;
    this.reducer.reduce(); // reduce the gradients (stages 2, 3: already done bucket by bucket during backward)
    return this.failTogether((update, localError) => {
      const sums = this.state.localSumSquaresByBucket(this.reducer);
      const sumSq = this.agreeOnNorm(sums, localError);
      const { skip, gradScale, info } = this.clip(sumSq, sums);
      if (!skip) {
        this.optimizer.lr = info.lr;
        update!.apply(gradScale); // update this rank's shard: the only write to parameters and optimizer state
      }
      update!.release(); // the workspace goes before the gather, as the peak memory accounting expects
      this.store.gatherUpdated(); // gather the updated parameters (a skipped step: the unchanged ones)
      if (!skip) {
        this.scheduler.step();
        this.globalSteps++;
      }
      this.reducer.zero();
      return info;
    });
  }

  /**
   * The failure bookkeeping of a step. Prepares the update (the fp32 gradient workspace, the shards' layout); a
   * rank-local failure there (device memory) is not thrown at once but handed to the phases, whose norm all-reduce
   * then carries a NaN that makes every other rank fail this step too, instead of leaving them waiting in a
   * collective. A step that throws zeroes the gradients and re-gathers the parameters as every rank does after a
   * step; the workspace is released in all cases.
   */
  private failTogether(phases: (update: PreparedUpdate | null, localError: unknown) => StepInfo): StepInfo {
    let update: PreparedUpdate | null = null;
    let localError: unknown = null;
    try {
      update = this.state.prepare(this.reducer, this.store);
    } catch (e) {
      localError = e;
    }
    try {
      return phases(update, localError);
    } catch (e) {
      try {
        this.reducer.zero();
        this.store.gatherUpdated();
      } catch {
        // a lost peer; the caller reports the error that ended the step
      }
      throw e;
    } finally {
      update?.release();
    }
  }

  /**
   * Agree on the global squared norm: one scalar all-reduce of every rank's partial sum (exact, [Note: exact norm
   * exchange]), which also carries the order of this step's bucket reductions (the same on every rank, or the ranks
   * mixed up buckets) and, through Inf/NaN, the overflow every rank agrees on. A local failure joins it with a NaN
   * and is thrown after it.
   */
  private agreeOnNorm(sums: readonly number[], localError: unknown): number {
    let sumSq = localError === null ? sums.reduce((a, x) => a + x, 0) : NaN;
    if (this.plan.partitioned && this.group.worldSize > 1) {
      const s = this.scalar.comm() as Float32Array;
      const { rank, worldSize } = this.group;
      writeNormSlots(s, rank, worldSize, sumSq, this.reducer.duringBackward?.signature() ?? 0);
      this.group.allReduce(s, 'sum', 'f32');
      const exchanged = readNormSlots(s, worldSize);
      sumSq = exchanged.sumSq;
      const odd = exchanged.signatures.findIndex((x) => x !== exchanged.signatures[0]);
      if (odd >= 0) {
        throw new StateError(
          `rank ${rank}: the ranks reduced their gradient buckets in different orders this step (rank 0 signature ` +
            `${exchanged.signatures[0]}, rank ${odd} signature ${exchanged.signatures[odd]}): their backward passes ran different ` +
            'modules. Every rank must run the same modules in forward and backward; parameters and optimizer state are unchanged.',
        );
      }
    }
    if (localError !== null) throw localError;
    return sumSq;
  }

  /**
   * Clip: the gradient scale (loss-scale removal times the clipping coefficient) and, with fp16, the loss scaler's
   * decision to skip an overflowing step. Writes nothing but the loss scaler, and that only as its last act
   * (restored if it throws).
   */
  private clip(sumSq: number, sums: readonly number[]): { skip: boolean; info: StepInfo; gradScale: number } {
    const lossScale = this.scaler?.scale ?? 1;
    const lr = this.scheduler.lr;
    const overflow = !Number.isFinite(sumSq);
    if (overflow && this.scaler === null)
      throw nonFiniteNormError(this.globalSteps, sumSq, locateNonFinite(this.plan, this.reducer, sums));
    const { norm, gradScale } = overflow
      ? { norm: Infinity, gradScale: 0 }
      : unscaleAndClip(Math.sqrt(sumSq), lossScale, this.config.gradientClipping);
    if (!overflow && !(Number.isFinite(gradScale) && Number.isFinite(lr))) {
      throw new NumericsError(
        `step ${this.globalSteps}: the gradient scale ${gradScale} (norm ${norm}, loss scale ${lossScale}) or the ` +
          `learning rate ${lr} is not finite; parameters and optimizer state are unchanged`,
      );
    }
    let skip = false;
    if (this.scaler !== null) {
      const before = this.scaler.stateDict();
      try {
        skip = this.scaler.update(overflow);
      } catch (e) {
        this.scaler.loadStateDict(before);
        throw e;
      }
    }
    return { skip, gradScale, info: { applied: !skip, gradNorm: skip ? Infinity : norm, lr, lossScale } };
  }

  /** gradient_accumulation_steps micro-batches: forward, backward each, then step. Returns the mean loss. */
  trainBatch(microBatches: readonly (Parameters<M['forward']> extends [Tape, ...infer R] ? R : never)[]): {
    loss: number;
    step: StepInfo;
  } {
    if (microBatches.length !== this.config.gradientAccumulationSteps) {
      throw new ConfigError(
        `trainBatch got ${microBatches.length} micro-batches; gradient_accumulation_steps is ${this.config.gradientAccumulationSteps}`,
        'gradient_accumulation_steps',
      );
    }
    let sum = 0;
    for (const mb of microBatches) {
      this.forward(...mb);
      sum += this.backward();
    }
    return { loss: sum / microBatches.length, step: this.step()! };
  }

  /** Stage 3 only: gathered elements now and at most, and all-gathers issued since initialisation. */
  fetchStats(): {
    liveElements: number;
    peakLiveElements: number;
    gathers: number;
    /** the parameter shard's bytes in host memory and in its swap file (offload_param cpu, nvme) */
    shard: { hostBytes: number; diskBytes: number };
    /** offload_param nvme: the shard's swap I/O (bytes, reads, writes, and how many overlapped); else null */
    shardIO: ShardIOStats | null;
  } | null {
    if (!(this.store instanceof ParamFetcher)) return null;
    const { liveElements, peakLiveElements, gathers, shardBytes, shardIO } = this.store;
    return { liveElements, peakLiveElements, gathers, shard: shardBytes, shardIO };
  }

  /** [native blas] Which backends run this engine: the device's kernels and the group's transport. */
  get backends(): EngineBackends {
    return engineBackends(this.device.kernels.backend, this.group.transport);
  }

  memoryStats(): MemoryStats {
    return this.device.memoryStats();
  }

  /** Offloaded optimizer state: host bytes, swap-file bytes, sub-groups; null when the state is on the device. */
  offloadStats(): OffloadAccounting | null {
    const s = this.state as Partial<OffloadAccounting>;
    if (s.hostBytes === undefined) return null;
    return { hostBytes: s.hostBytes, diskBytes: s.diskBytes!, subGroups: s.subGroups! };
  }

  commStats(): CommLog {
    return this.group.log;
  }

  /** Full fp32 parameters and optimizer state by parameter name (collective: every rank must call it). */
  consolidate(): Consolidated {
    return consolidate(this.plan, this.store, this.state);
  }

  // --- checkpoints (issue 8): src/checkpoint does the work, checkpoint-state.ts adapts this engine's parts ---

  /** Collective: every rank writes its shard, rank 0 the manifest; atomic. Returns the checkpoint's folder. */
  saveCheckpoint(dir: string, opts?: SaveOptions): string {
    return saveCheckpoint(this.checkpointState(), dir, opts);
  }

  /** Collective: loads a checkpoint saved at any world size and stage (resharded), at a step boundary. */
  loadCheckpoint(dir: string, opts?: LoadOptions): LoadReport {
    return loadCheckpoint(this.checkpointState(), dir, opts);
  }

  /** Collective: the fp32 master weights as one safetensors file in Hugging Face's GPT-2 names (rank 0 writes). */
  saveWeights(path: string, opts?: WeightsOutOptions): void {
    saveWeightsFromState(this.checkpointState(), path, opts);
  }

  /** Initialises the weights from a safetensors file or folder; each rank reads only its own segments' bytes. */
  loadWeights(path: string): WeightsInReport {
    return loadWeightsIntoState(this.checkpointState(), path);
  }

  private checkpointState(): ShardedState {
    return shardedState({
      plan: this.plan,
      group: this.group,
      store: this.store,
      state: this.state,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      scaler: this.scaler,
      config: this.config,
      modelConfig: (this.model as { config?: unknown }).config ?? null,
      pendingMicroSteps: this.microSteps,
      getGlobalSteps: () => this.globalSteps,
      setGlobalSteps: (n) => {
        this.globalSteps = n;
      },
    });
  }

  // --- end checkpoints ---

  dispose(): void {
    this.tape?.clear();
    this.readiness?.dispose();
    this.store.dispose();
    this.reducer.dispose();
    this.state.dispose();
    this.scalar.dispose();
  }
}

export function initialize<M extends TrainableModule>(opts: InitializeOptions<M>): ZeroEngine<M> {
  const device = opts.device ?? (opts.model as { device?: Device }).device;
  if (device === undefined)
    throw new ConfigError('initialize: pass device (the model has no `device` property)', 'device');
  const config = isResolvedConfig(opts.config)
    ? opts.config
    : resolveConfig(opts.config, {
        worldSize: opts.group.worldSize,
        hiddenSize: opts.hiddenSize ?? opts.model.hiddenSize,
      });
  return new ZeroEngine(opts.model, config, opts.group, device, opts);
}
