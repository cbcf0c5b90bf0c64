// The offloaded step's parameter copy-back, cut for a streamed target (offload_param nvme, whose storage has
// windowElements): a sub-group is stepped in pieces, each a run of its runs that is contiguous in the parameter
// shard and at most windowElements long (a longer run is split), so that each piece's 16-bit parameters are written
// through one of the shard's host windows: opened (not read: the step writes every element of it) before the
// piece steps, and closed (its write back submitted, proceeding while the next piece steps) after. The update is
// elementwise, so stepping a sub-group piece by piece gives the same bits. Any other target: one piece, as before.
import type { SegmentTarget } from '../optimizer-state.js';
import type { SubGroup, SubGroupRun } from './sub-groups.js';

export interface CopyBackPiece {
  /** the sub-group restricted to this piece's runs */
  readonly group: SubGroup;
  open(): void;
  close(): void;
}

export function copyBackPieces(g: SubGroup, target: SegmentTarget): CopyBackPiece[] {
  const first = g.runs[0];
  const buf = first === undefined ? null : target.segmentParam(first.bucket).buf;
  const cap = buf?.windowElements;
  if (buf === null || cap === undefined || buf.openRange === undefined)
    return [{ group: g, open: () => {}, close: () => {} }];
  const at = (r: SubGroupRun) => target.segmentParam(r.bucket).offset + r.segmentStart;
  const pieces: { from: number; length: number; runs: SubGroupRun[] }[] = [];
  for (const run of g.runs)
    for (let done = 0; done < run.length; ) {
      const last = pieces[pieces.length - 1];
      const shardAt = at(run) + done;
      const room = last !== undefined && last.from + last.length === shardAt ? cap - last.length : 0;
      const p = room > 0 ? last! : { from: shardAt, length: 0, runs: [] };
      if (p !== last) pieces.push(p);
      const n = Math.min(run.length - done, room > 0 ? room : cap);
      p.runs.push(
        done === 0 && n === run.length
          ? run
          : {
              ...run,
              segmentStart: run.segmentStart + done,
              offset: run.offset + done,
              paramStart: run.paramStart + done,
              length: n,
            },
      );
      p.length += n;
      done += n;
    }
  return pieces.map((p) => ({
    group: { ...g, runs: p.runs },
    open: () => buf.openRange!(p.from, p.length, true),
    close: () => buf.closeRanges!(),
  }));
}
