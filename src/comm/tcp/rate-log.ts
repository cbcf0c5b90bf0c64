// A logger that passes at most `max` lines per `windowMs` and then one summary line for the rest: a listener that
// is hammered (another job retrying with the wrong token, a port scan) must not flood the job's log, but every
// refusal is counted and the first ones are shown as they happen.
import type { Logger } from './conn.js';

export function rateLimited(log: Logger, what: string, max = 10, windowMs = 10_000): Logger {
  let shown = 0;
  let dropped = 0;
  let timer: NodeJS.Timeout | null = null;
  const endWindow = () => {
    timer = null;
    if (dropped > 0) log(`${what}: ${dropped} more in the last ${windowMs / 1000} s (not shown)`);
    shown = 0;
    dropped = 0;
  };
  return (line) => {
    if (!timer) {
      timer = setTimeout(endWindow, windowMs);
      timer.unref();
    }
    if (shown < max) {
      shown++;
      log(line);
    } else dropped++;
  };
}
