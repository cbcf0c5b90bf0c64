// The figures a run's report takes over all ranks (summarize() in report.ts: the held-out loss as the mean of the
// ranks', the device peak as their maximum), gathered to every rank at the end of a run, so that a rank of a
// launched job (zerots launch, mpirun) can print what the thread-rank run prints. The values travel as the bytes of
// f64s through one all-gather (a copy, no arithmetic), and the mean is taken in rank order as summarize() takes it:
// the same number, bit for bit.
import type { ProcessGroup } from '../comm/types.js';
import type { Device } from '../tensor/device.js';
import type { RankResult } from './spec.js';

/** Sets each result's worldValLoss and worldPeakBytes (a collective: every rank calls it with its own results). */
export function gatherWorldFigures(device: Device, group: ProcessGroup, results: RankResult[]): void {
  const N = group.worldSize;
  const perRank = 2 * results.length; // f64s per rank
  const a = device.alloc(8 * perRank * N, 'comm', 'held-out loss and peak bytes of every rank');
  try {
    const f64 = new Float64Array(device.u8(a.ptr, 8 * perRank * N).buffer, a.ptr, perRank * N);
    const mine = f64.subarray(group.rank * perRank, (group.rank + 1) * perRank);
    results.forEach((r, k) => {
      mine[2 * k] = r.valLoss ?? Number.NaN;
      mine[2 * k + 1] = r.devicePeakBytes;
    });
    const words = 2 * perRank; // f32 words per rank
    const all = device.f32(a.ptr, words * N);
    group.allGather(all, all.subarray(group.rank * words, (group.rank + 1) * words), 'f32');
    results.forEach((r, k) => {
      const of = (q: number, i: number) => f64[q * perRank + 2 * k + i]!;
      let sum = 0;
      for (let q = 0; q < N; q++) sum += of(q, 0);
      r.worldValLoss = r.valLoss === null ? null : sum / N;
      r.worldPeakBytes = Math.max(...Array.from({ length: N }, (_, q) => of(q, 1)));
    });
  } finally {
    device.free(a);
  }
}
