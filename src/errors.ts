// The named errors of zerots. Every error says what was wrong, where, and what is allowed.
// This file is shared by every layer and imports nothing.

export class ZeroTsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A tensor or buffer shape does not fit the op. */
export class ShapeError extends ZeroTsError {}

/** An allocation did not fit the device (or host arena) capacity. */
export class DeviceOutOfMemoryError extends ZeroTsError {
  constructor(
    message: string,
    readonly requestedBytes: number,
    readonly capacityBytes: number,
    readonly inUseByCategory: Readonly<Record<string, number>>,
  ) {
    super(message);
  }
}

/** A configuration key or value is invalid. `path` is the key path, e.g. `zero_optimization.stage`. */
export class ConfigError extends ZeroTsError {
  constructor(
    message: string,
    readonly path: string = '',
  ) {
    super(message);
  }
}

/** A collective did not complete in time. */
export class CollectiveTimeoutError extends ZeroTsError {
  constructor(
    message: string,
    readonly op: string,
    readonly rank: number,
    readonly seq: number,
  ) {
    super(message);
  }
}

/** A peer rank died, exited or threw while others were waiting on it. */
export class PeerLostError extends ZeroTsError {
  constructor(
    message: string,
    readonly lostRank: number,
  ) {
    super(message);
  }
}

/** Ranks called different collectives (or sizes, dtypes) at the same sequence number. */
export class CollectiveMismatchError extends ZeroTsError {}

/** A checkpoint is missing, corrupt or does not fit the model. */
export class CheckpointError extends ZeroTsError {}

/** A value (loss, gradient) is not finite where it must be. */
export class NumericsError extends ZeroTsError {}

/** An object was used in a state that does not allow it (e.g. a released parameter read without a fetch hook). */
export class StateError extends ZeroTsError {}

/** The ranks of a job could not meet: the rendezvous store is unreachable, taken by another job, or ranks are missing. */
export class RendezvousError extends ZeroTsError {
  constructor(
    message: string,
    readonly address: string,
    readonly port: number,
  ) {
    super(message);
  }
}

/**
 * Offloaded state did not fit its host memory or disk, or its swap I/O failed. `path` names the swap file or
 * nvme_path directory when there is one.
 */
export class OffloadError extends ZeroTsError {
  constructor(
    message: string,
    readonly path: string | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
