// The stage-3 fetch schedule: the order parameter groups are acquired in over one whole step (forward then
// backward), recorded in the first step and followed from then on, and the decisions that order makes possible:
// the prefetch window (the next groups, up to stage3_prefetch_bucket_size elements), whether a group is used again
// soon (within stage3_max_reuse_distance elements: keep it gathered), and which idle groups to evict to stay under
// stage3_max_live_parameters. It owns no memory and issues no collective; the fetcher (param-fetcher.ts) acts on it.

export interface ScheduleOptions {
  prefetchElements: number;
  maxReuseDistance: number;
  maxLiveElements: number;
}

export class FetchSchedule {
  /** Group acquisitions of one whole step, recorded in the first step (null until then). */
  private trace: number[] | null = null;
  private recording: number[] = [];
  private pos = 0;

  constructor(
    /** Gathered elements of each group. */
    private readonly sizes: readonly number[],
    private readonly o: ScheduleOptions,
  ) {}

  /** Group b is acquired: recorded in the first step, a step along the trace afterwards. */
  acquired(b: number): void {
    if (this.trace === null) this.recording.push(b);
    else this.pos++;
  }

  /** The step ended: the first step's recording becomes the trace; the next step starts at its beginning. */
  endStep(): void {
    if (this.trace === null && this.recording.length > 0) this.trace = this.recording;
    this.pos = 0;
  }

  /** Whether group b is acquired again within maxReuseDistance gathered elements (known from the first step). */
  reusedSoon(b: number): boolean {
    if (this.trace === null) return false;
    let between = 0;
    for (let q = this.pos; q < this.trace.length; q++) {
      if (this.trace[q] === b) return between < this.o.maxReuseDistance;
      between += this.sizes[this.trace[q]!]!;
      if (between >= this.o.maxReuseDistance) return false;
    }
    return false;
  }

  /** The groups to fetch next: the trace from here on, up to prefetchElements. */
  window(): Set<number> {
    const out = new Set<number>();
    if (this.trace === null || this.o.prefetchElements <= 0) return out;
    let budget = this.o.prefetchElements;
    for (let q = this.pos; q < this.trace.length && budget > 0; q++) {
      out.add(this.trace[q]!);
      budget -= this.sizes[this.trace[q]!]!;
    }
    return out;
  }

  /** Whether `more` elements fit beside `live` gathered ones under stage3_max_live_parameters. */
  fits(live: number, more: number): boolean {
    return live + more <= this.o.maxLiveElements;
  }

  /** Idle groups (in group order) to evict until `need` more elements fit beside `live`. */
  evictions(live: number, need: number, idle: readonly number[]): number[] {
    const out: number[] = [];
    for (const b of idle) {
      if (this.fits(live, need)) break;
      out.push(b);
      live -= this.sizes[b]!;
    }
    return out;
  }
}
