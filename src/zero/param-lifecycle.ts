// The lifecycle of a stage-3 parameter group: 'sharded' (only this rank's chunk exists) -> 'gathering' (an
// all-gather into a full buffer is in flight) -> 'gathered' (the parameters' data are views into the full buffer)
// -> 'sharded' (released). Any other transition is a bug in the fetcher and throws.
import { StateError } from '../errors.js';

export type GroupState = 'sharded' | 'gathering' | 'gathered';

const ALLOWED: Readonly<Record<GroupState, GroupState>> = {
  sharded: 'gathering',
  gathering: 'gathered',
  gathered: 'sharded',
};

export class Lifecycle {
  private s: GroupState = 'sharded';

  constructor(readonly what: string) {}

  get state(): GroupState {
    return this.s;
  }

  to(next: GroupState): void {
    if (ALLOWED[this.s] !== next) {
      throw new StateError(
        `${this.what}: illegal transition '${this.s}' -> '${next}' (allowed from '${this.s}': '${ALLOWED[this.s]}')`,
      );
    }
    this.s = next;
  }
}
