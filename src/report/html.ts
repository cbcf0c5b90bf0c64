// experiments/report.html: one self-contained page (inline CSS, the charts as inline SVG, no script, nothing
// fetched), the numbers in tables beside the charts.
import type { ExperimentOptions, ExperimentResult } from '../train/experiments.js';
import type { NamedChart } from './charts-data.js';
import { renderSvg } from './charts.js';
import { describeSetup, equalBatchLossSpread, methodCells, methodRows, orderHolds } from './rows.js';

const MiB = 2 ** 20;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const th = header.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows.map(
    (r) => `<tr>${r.map((c, i) => `<td${i === 0 ? ' class="l"' : ''}>${esc(c)}</td>`).join('')}</tr>`,
  );
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr.join('')}</tbody></table>`;
}

const CSS = `
body { font-family: Helvetica, Arial, sans-serif; margin: 24px 32px; color: #222; max-width: 1180px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 17px; margin: 26px 0 8px; }
p { font-size: 13px; line-height: 1.45; margin: 6px 0; } .note { color: #555; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { padding: 3px 9px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; white-space: normal; vertical-align: bottom; max-width: 90px; } td.l, th:first-child { text-align: left; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px 24px; }
.grid svg { max-width: 100%; height: auto; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #c00; font-weight: bold; }
code { font-size: 12px; background: #f5f5f5; padding: 0 3px; }
`;

export async function reportHtml(
  res: ExperimentResult,
  o: ExperimentOptions,
  seconds: number,
  charts: readonly NamedChart[],
  svgs?: readonly string[],
): Promise<string> {
  const rows = methodRows(res);
  const rendered = svgs ?? (await Promise.all(charts.map((c) => renderSvg(c.spec))));
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const main = table(
    [
      'method',
      'largest micro-batch',
      'estimator',
      'first OOM',
      'tokens/s',
      `s for ${o.tokens} tokens`,
      'param MiB',
      'grad MiB',
      'optim MiB',
      'activ MiB',
      'device peak MiB',
      'estimator peak MiB',
      'comm MiB/step',
      'held-out loss',
    ],
    rows.map(methodCells),
  );
  const holds = orderHolds(rows);
  const spread = equalBatchLossSpread(res);
  const p2 = res.part2;
  const r2 = p2.run;
  const part2 = table(
    ['method', 'micro-batch', 'estimator', 'outcome', 'tokens/s', 'device peak MiB', 'held-out loss'],
    [
      ['DDP', '1', String(p2.ddpPredicted), p2.ddpOom === null ? 'trained' : 'DeviceOutOfMemoryError', '-', '-', '-'],
      [
        'ZeRO-3 + offload',
        String(p2.offload.max),
        String(p2.offloadPredicted),
        p2.offload.max > 0 ? `trains (first OOM at ${p2.offload.firstOom?.micro ?? '-'})` : 'out of memory at 1',
        r2 === null ? '-' : r2.tokensPerSecond.toFixed(0),
        r2 === null ? '-' : f1(Math.max(...r2.devicePeakBytes) / MiB),
        r2?.valLoss?.toFixed(4) ?? '-',
      ],
    ],
  );
  const seed = table(
    ['model', 'method', 'largest batch per GPU', 'speed'],
    [
      ['DeBERTa-v2 XL (900M)', 'DDP', '8', '1x'],
      ['DeBERTa-v2 XL (900M)', 'ZeRO-2', '40', '~3.5x faster epoch'],
      ['GPT-2 XL (1.5B)', 'DDP', 'out of memory at 1', '-'],
      ['GPT-2 XL (1.5B)', 'ZeRO-3 + CPU offload', '16', 'trains'],
    ],
  );
  const m2 = p2.model;
  const equalNote =
    res.equal === null || spread === null
      ? ''
      : `At equal global batch (every method at micro-batch ${res.equal.micro}, one world) the losses differ by at ` +
        `most ${spread === 0 ? '0: identical bits' : spread.toExponential(2)}.`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zerots experiments</title><style>${CSS}</style></head>
<body>
<h1>ZeRO experiments: DDP vs ZeRO-1/2/3 vs ZeRO-3 + offload</h1>
<p>${esc(describeSetup(res, o))}. Written by <code>zerots experiments</code> (<code>npm start</code>) in
${seconds.toFixed(0)} s on ${new Date().toISOString().slice(0, 10)}; the machine may have been shared, so times and
tokens/s are noisy; memory and micro-batches are exact (every out-of-memory is a real <code>DeviceOutOfMemoryError</code>).</p>
<p>Largest micro-batch grows DDP &lt; ZeRO-1 &le; ZeRO-2 &le; ZeRO-3 &lt; ZeRO-3 + offload:
<span class="${holds ? 'ok' : 'bad'}">${holds ? 'holds' : 'does not hold'}</span>
(${esc(rows.map((r) => `${r.label} ${r.maxMicroBatch}`).join(', '))}).
${equalNote}</p>
<h2>Part 1: the largest micro-batch of each method, and a run of ${o.tokens} tokens at it</h2>
<div class="grid">${rendered.map((s) => `<div>${s}</div>`).join('\n')}</div>
${main}
<p class="note">Memory is the largest rank's peak per category above what was in use before the engine was built
(categories peak at different moments, so a stack can exceed the device peak); the device peak counts everything,
the transport's staging area and the kernels' scratch included. Held-out losses differ because micro-batches, and so
the number of optimizer steps for the same tokens, differ.</p>
<h2>Part 2: a model DDP cannot fit even at micro-batch 1</h2>
<p>GPT ${m2.nLayer} layers x d ${m2.nEmbd} (${(p2.params / 1e6).toFixed(2)}M parameters), ${res.base.deviceBytes / MiB} MiB per rank.</p>
${part2}
${p2.ddpOom === null ? '' : `<p class="note">DDP's error: <code>${esc(p2.ddpOom)}</code></p>`}
<h2>The seed experiment as published</h2>
<p>Hugging Face, "Accelerate Large Model Training using DeepSpeed" (2 x 24 GB GPUs):</p>
${seed}
<p class="note">What differs: theirs ran 24 GB GPUs and models of about a billion parameters, DDP keeping fp32 model
states; ours runs 2 CPU thread ranks whose device is a WebAssembly memory of a few dozen MiB and a GPT of a few
million parameters in bf16 mixed precision (16 bytes per parameter for DDP as well), so the same ratios of model
states to capacity appear at a few-hundredth of the scale, and the speed is CPU-bound.</p>
</body></html>
`;
}
