// The launcher: ranks get their place from the environment (tcp) or the thread context (threads), a dying rank is
// named and makes the launch fail, and an abort (the Ctrl-C path) stops every rank.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from '../../src/cli/launch.js';
import { freePort } from '../../src/launch/processes.js';

const script = fileURLToPath(new URL('../ranks/launch-script.js', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
    if (cond()) return true;
  return cond();
}

for (const transport of ['tcp', 'threads'] as const) {
  test(`launch ${transport}: 3 ranks find their place and all-reduce`, { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zerots-launch-'));
    try {
      const code = await launch({
        nprocPerNode: 3,
        transport,
        masterPort: await freePort(),
        script,
        args: [dir, 'ok'],
        setExitCode: false,
      });
      assert.equal(code, 0);
      for (let r = 0; r < 3; r++) {
        const got = JSON.parse(readFileSync(join(dir, `rank-${r}.json`), 'utf8'));
        assert.deepEqual(got, {
          rank: r,
          worldSize: 3,
          localRank: r,
          localWorldSize: 3,
          transport,
          sum: [6, 6, 6, 6, 6],
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('launch tcp: a rank that dies is named and the launch fails', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-launch-'));
  const lines: string[] = [];
  try {
    const code = await launch({
      nprocPerNode: 2,
      transport: 'tcp',
      masterPort: await freePort(),
      script,
      args: [dir, 'die'],
      setExitCode: false,
      log: (l) => lines.push(l),
      graceMs: 2000,
    });
    assert.equal(code, 3);
    assert.match(lines.join('\n'), /rank 1 \(pid \d+\) exited with code 3/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('launch tcp: aborting (the Ctrl-C path) stops every rank', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-launch-'));
  const ac = new AbortController();
  const lines: string[] = [];
  try {
    const running = launch({
      nprocPerNode: 2,
      transport: 'tcp',
      masterPort: await freePort(),
      script,
      args: [dir, 'hang'],
      setExitCode: false,
      signal: ac.signal,
      log: (l) => lines.push(l),
    });
    assert.ok(
      await until(() => existsSync(join(dir, 'ready-0')) && existsSync(join(dir, 'ready-1')), 20_000),
      'ranks never got ready',
    );
    const pids = [0, 1].map((r) => Number(readFileSync(join(dir, `ready-${r}`), 'utf8')));
    ac.abort();
    assert.equal(await running, 130);
    assert.deepEqual(pids.map(alive), [false, false]);
    assert.match(lines.join('\n'), /stopping 2 running rank/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
