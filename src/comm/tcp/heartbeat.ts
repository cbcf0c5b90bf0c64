// Liveness of peer links: every second each link gets a Heartbeat frame, and a link that has been silent (no byte
// of any frame) for LOST_MS is failed, which the collective runner reports as PeerLostError naming that rank. This is what
// finds a frozen or unreachable peer; a dead process is seen at once by its socket closing.
import type { FramedConn } from './conn.js';
import { FrameKind, ProtocolError, encodeHeader } from './frame.js';

export const BEAT_MS = 1000;
export const LOST_MS = 6000;
/** A link failed for silence: the peer is stopped, frozen or cut off (it did not close anything). */
export class PeerSilent extends ProtocolError {}

const BEAT = encodeHeader({ kind: FrameKind.Heartbeat, op: 0, dtype: 0, seq: 0, length: 0, offset: 0 });

/** Starts beating on `links`; returns the stop function. */
export function startHeartbeat(links: readonly (FramedConn | undefined)[]): () => void {
  let lastTick = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const stalled = now - lastTick > 2 * BEAT_MS; // our own loop was late: do not blame the peers for it
    lastTick = now;
    links.forEach((l, p) => {
      if (!l || l.isEnded) return;
      if (stalled) l.lastHeard = now;
      else if (now - l.lastHeard > LOST_MS)
        return l.fail(new PeerSilent(`no heartbeat for ${LOST_MS / 1000} s from rank ${p}`));
      l.send(Buffer.from(BEAT));
    });
  }, BEAT_MS);
  return () => clearInterval(timer);
}
