// What the launcher does with a rank process's stdout and stderr: every line goes on to the launcher's own stream
// as soon as it is complete (lines of different ranks never interleave mid-line; one rank's lines keep their
// order), and the rank's error line is kept for the launcher's summary ("rank 1 exited with code 1: <its error>").
import type { Readable, Writable } from 'node:stream';

/** The one-line form rank-preload.ts prints for an uncaught error: `zerots rank R: Name: message`. */
const PRELOAD_LINE = /^zerots rank \d+: ([A-Za-z_$][\w$]*): (.*)$/;
/** Node's own report of an uncaught error: `Name: message` (or `Name [CODE]: message`) at the start of a line. */
const NODE_LINE = /^((?:[A-Z][\w$]*)?(?:Error|Exception))(?: \[[\w$]+\])?: (.+)$/;
/** The `zerots` CLI's own one-line report (src/cli/main.ts), e.g. of a `zerots train` rank: `zerots: Name: message`. */
const CLI_LINE = /^zerots: ([A-Z][\w$]*(?:Error|Exception)): (.+)$/;

export class RankOutput {
  /** The rank's error as `Name: message`, once one was printed (the preload's one-liner wins over Node's). */
  error: string | null = null;
  private fromPreload = false;
  private open = 0;
  private closedAll!: () => void;
  /** Resolves once both streams ended (every line forwarded). */
  readonly closed = new Promise<void>((r) => {
    this.closedAll = r;
  });

  constructor(
    streams: { stdout: Readable | null; stderr: Readable | null },
    to: { stdout: Writable; stderr: Writable },
  ) {
    for (const [from, dest, isErr] of [
      [streams.stdout, to.stdout, false],
      [streams.stderr, to.stderr, true],
    ] as const) {
      if (!from) continue;
      this.open++;
      this.forward(from, dest, isErr);
    }
    if (this.open === 0) this.closedAll();
  }

  private forward(from: Readable, dest: Writable, isErr: boolean): void {
    let rest = '';
    from.setEncoding('utf8');
    from.on('data', (chunk: string) => {
      const text = rest + chunk;
      const cut = text.lastIndexOf('\n');
      if (cut < 0) {
        rest = text;
        return;
      }
      rest = text.slice(cut + 1);
      const whole = text.slice(0, cut + 1);
      dest.write(whole);
      if (isErr) for (const line of whole.split('\n')) this.look(line);
    });
    from.on('end', () => {
      if (rest) {
        dest.write(`${rest}\n`);
        if (isErr) this.look(rest);
      }
      if (--this.open === 0) this.closedAll();
    });
    from.on('error', () => {});
  }

  private look(line: string): void {
    const p = PRELOAD_LINE.exec(line);
    if (p) {
      this.error = `${p[1]}: ${p[2]}`;
      this.fromPreload = true;
      return;
    }
    if (this.fromPreload) return;
    const n = NODE_LINE.exec(line) ?? CLI_LINE.exec(line);
    if (n) this.error = `${n[1]}: ${n[2]}`;
  }
}
