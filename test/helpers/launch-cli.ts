// Runs `zerots launch ...` (the real CLI, dist/src/cli/main.js) as a child process and collects its output lines.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const LIFE = fileURLToPath(new URL('../ranks/life-script.js', import.meta.url));

export interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** the exit code (128 + n for a signal), once the launcher ended and its output was read. */
  done: Promise<number>;
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (s: NodeJS.ReadableStream, into: string[]) => {
    let rest = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      const parts = (rest + c).split('\n');
      rest = parts.pop()!;
      into.push(...parts);
    });
    s.on('end', () => {
      if (rest) into.push(rest);
    });
  };
  collect(child.stdout!, stdout);
  collect(child.stderr!, stderr);
  const done = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 128))),
  );
  return { child, stdout, stderr, done };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
    if (cond()) return true;
  return cond();
}
