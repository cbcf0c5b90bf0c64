// `zerots bench zero --peer torch`: the same model, micro-batch, world size and steps under PyTorch (gloo), as
// DDP + AdamW (the peer of stage 0) and DDP + ZeroRedundancyOptimizer (the peer of stage 1), run by
// tools/torch_zero_peer.py in the same run; null (with the reason printed) when PyTorch is not installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StageRunOptions } from '../train/stages.js';

const SCRIPT = fileURLToPath(new URL('../../../tools/torch_zero_peer.py', import.meta.url));
// [Note: PyTorch's BLAS] (bench-train.ts): Debian's torch links the slow reference libblas.so.3 unless pointed at
// OpenBLAS's.
const OPENBLAS_DIRS = ['/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/aarch64-linux-gnu/openblas-pthread'];

export interface TorchPeer {
  torch: string;
  ddp_tokens_per_s: number;
  zero1_tokens_per_s: number;
  threads_per_rank: number;
  blas: string | null;
}

export function runTorchPeer(spec: StageRunOptions, worldSize: number, print: (l: string) => void): TorchPeer | null {
  const cfg = { ...spec.model, microBatch: spec.microBatch, steps: spec.steps, untimedSteps: spec.untimedSteps };
  const env: NodeJS.ProcessEnv = { ...process.env };
  const dir = OPENBLAS_DIRS.find((d) => existsSync(join(d, 'libblas.so.3')));
  if (dir) env.LD_LIBRARY_PATH = [dir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  delete env.OPENBLAS_CORETYPE;
  print(`peer: PyTorch DDP and ZeroRedundancyOptimizer (gloo, ${worldSize} processes, fp32) ...`);
  const r = spawnSync('/usr/bin/python3', [SCRIPT, JSON.stringify({ ...cfg, lr: spec.lr, worldSize })], {
    env,
    encoding: 'utf8',
    timeout: 1_200_000,
  });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  let j: (TorchPeer & { reason?: string }) | { torch: null; reason?: string } | null = null;
  try {
    j = JSON.parse(last) as TorchPeer;
  } catch {
    j = null;
  }
  if (r.status !== 0 || j === null || j.torch === null) {
    const why = j?.reason ?? (r.error?.message || r.stderr?.slice(-300) || `exit ${r.status}`);
    print(`peer: PyTorch not available (${why}); no peer figures`);
    return null;
  }
  return j;
}

/** One round: zerots' stage 0 and stage 1 next to the PyTorch run that followed them. */
export interface PeerRound {
  ddp: number;
  zero1: number;
  vsDdp: number;
  vsZero1: number;
  torch: TorchPeer;
}

/** The round's ratios (printed): stage 0 / DDP and stage 1 / ZeroRedundancyOptimizer in tokens/s. */
export function peerRound(
  record: { stage0_tokens_per_s: number; stage1_ratio: number },
  t: TorchPeer,
  print: (l: string) => void,
): PeerRound {
  const r = (x: number): number => Number(x.toFixed(3));
  const s1 = record.stage0_tokens_per_s * record.stage1_ratio;
  const round = {
    ddp: t.ddp_tokens_per_s,
    zero1: t.zero1_tokens_per_s,
    vsDdp: r(record.stage0_tokens_per_s / t.ddp_tokens_per_s),
    vsZero1: r(s1 / t.zero1_tokens_per_s),
    torch: t,
  };
  print(
    `peer PyTorch ${t.torch} (${t.threads_per_rank} thread(s) per rank): DDP ${Math.round(t.ddp_tokens_per_s)} tok/s, ` +
      `ZeroRedundancyOptimizer ${Math.round(t.zero1_tokens_per_s)} tok/s; zerots stage 0 ` +
      `${Math.round(record.stage0_tokens_per_s)}, stage 1 ${Math.round(s1)} tok/s; stage 0 / DDP ${round.vsDdp}, ` +
      `stage 1 / ZeRO-1 ${round.vsZero1}`,
  );
  return round;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The JSON fields over the rounds: median ratios (each round's zerots against the PyTorch run beside it), ranges. */
export function peerFields(rounds: readonly PeerRound[], print: (l: string) => void): Record<string, unknown> {
  const r = (x: number): number => Number(x.toFixed(3));
  const v0 = rounds.map((x) => x.vsDdp),
    v1 = rounds.map((x) => x.vsZero1);
  const range = (v: number[]): [number, number] => [Math.min(...v), Math.max(...v)];
  print(
    `over ${rounds.length} round(s): stage 0 / DDP median ${r(median(v0))} (${range(v0).join(' .. ')}), ` +
      `stage 1 / ZeroRedundancyOptimizer median ${r(median(v1))} (${range(v1).join(' .. ')}); goals >= 1.0`,
  );
  return {
    torch: rounds[0]!.torch.torch,
    torch_threads_per_rank: rounds[0]!.torch.threads_per_rank,
    torch_blas: rounds[0]!.torch.blas,
    torch_ddp_tokens_per_s: Math.round(median(rounds.map((x) => x.ddp))),
    torch_zero1_tokens_per_s: Math.round(median(rounds.map((x) => x.zero1))),
    rounds: rounds.length,
    stage0_vs_ddp: r(median(v0)),
    stage1_vs_zero1: r(median(v1)),
    stage0_vs_ddp_range: range(v0),
    stage1_vs_zero1_range: range(v1),
  };
}
