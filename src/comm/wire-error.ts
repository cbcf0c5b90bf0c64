// Errors crossing a thread (or process) boundary: structured clone keeps neither the class nor the fields of our
// named errors, so they travel as plain records and are rebuilt on the other side.
import * as errors from '../errors.js';

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** Fields of the named errors: lostRank, op, rank, seq, path. */
  fields: Record<string, string | number>;
}

const FIELDS = ['lostRank', 'op', 'rank', 'seq', 'path', 'address', 'port'] as const;

/** A record made directly (by code that reports an error it did not throw, e.g. the TCP collective runner). */
export function wire(name: string, message: string, fields: Record<string, string | number> = {}): WireError {
  return { name, message, fields };
}

export function toWire(e: unknown): WireError {
  if (e instanceof Error) {
    const fields: Record<string, string | number> = {};
    for (const f of FIELDS) {
      const v = (e as unknown as Record<string, unknown>)[f];
      if (typeof v === 'string' || typeof v === 'number') fields[f] = v;
    }
    return { name: e.name, message: e.message, stack: e.stack, fields };
  }
  return { name: 'Error', message: `non-Error value thrown: ${String(e)}`, fields: {} };
}

/** True when `w` is one of zerots' named errors (src/errors.ts). */
export function isNamed(w: WireError): boolean {
  return w.name !== 'ZeroTsError' && typeof (errors as Record<string, unknown>)[w.name] === 'function';
}

/** Rebuilds a named error with its class and fields; anything else becomes a plain Error with the same name. */
export function fromWire(w: WireError, messagePrefix = ''): Error {
  const msg = messagePrefix + w.message;
  const f = w.fields;
  let e: Error;
  switch (w.name) {
    case 'PeerLostError':
      e = new errors.PeerLostError(msg, Number(f.lostRank ?? -1));
      break;
    case 'CollectiveTimeoutError':
      e = new errors.CollectiveTimeoutError(msg, String(f.op ?? ''), Number(f.rank ?? -1), Number(f.seq ?? -1));
      break;
    case 'ConfigError':
      e = new errors.ConfigError(msg, String(f.path ?? ''));
      break;
    case 'CollectiveMismatchError':
      e = new errors.CollectiveMismatchError(msg);
      break;
    case 'ShapeError':
      e = new errors.ShapeError(msg);
      break;
    case 'StateError':
      e = new errors.StateError(msg);
      break;
    case 'CheckpointError':
      e = new errors.CheckpointError(msg);
      break;
    case 'NumericsError':
      e = new errors.NumericsError(msg);
      break;
    case 'RendezvousError':
      e = new errors.RendezvousError(msg, String(f.address ?? ''), Number(f.port ?? -1));
      break;
    default:
      e = new Error(msg);
      e.name = w.name;
  }
  if (w.stack) e.stack = `${e.name}: ${msg}\n    (in the rank's thread) ${w.stack.split('\n').slice(1).join('\n')}`;
  return e;
}
