// The experiment's four charts as Vega-Lite specs (charts.ts), from the result rows.
import type { TopLevelSpec } from 'vega-lite';
import type { ExperimentResult } from '../train/experiments.js';
import { barChart, lossChart, type MemoryBar, memoryChart } from './charts.js';
import { methodRows } from './rows.js';

const MiB = 2 ** 20;

export interface NamedChart {
  /** File stem (experiments/<name>.svg) and HTML id. */
  name: string;
  spec: TopLevelSpec;
}

export function experimentCharts(res: ExperimentResult): NamedChart[] {
  const rows = methodRows(res);
  const order = rows.map((r) => r.label);
  const mem: MemoryBar[] = [];
  for (const r of rows) {
    const cats: [string, number][] = [
      ['param', r.peakMiB.param],
      ['grad', r.peakMiB.grad],
      ['optimizer', r.peakMiB.optimizer],
      ['activation', r.peakMiB.activation],
      ['workspace + other', r.peakMiB.workspace + r.peakMiB.comm + r.peakMiB.other],
    ];
    for (const [category, mib] of cats) mem.push({ method: r.label, category, mib });
  }
  const loss = res.methods.flatMap((m) =>
    m.run.losses.map((l, i) => ({ method: m.method.label, tokens: (i + 1) * m.run.tokensPerStep, loss: l })),
  );
  return [
    {
      name: 'memory',
      spec: memoryChart(mem, order, res.base.deviceBytes / MiB, 'Peak memory per rank at the largest micro-batch'),
    },
    {
      name: 'max-micro-batch',
      spec: barChart(
        rows.map((r) => ({ method: r.label, value: r.maxMicroBatch })),
        order,
        {
          title: 'Largest micro-batch per rank that trains',
          axis: 'sequences per rank',
          format: 'd',
          color: '#4c78a8',
          ticks: rows.map((r) => ({ method: r.label, value: r.predicted })),
          subtitle: 'bars: found by out-of-memory errors; black ticks: the estimator',
        },
      ),
    },
    {
      name: 'tokens-per-second',
      spec: barChart(
        rows.map((r) => ({ method: r.label, value: Math.round(r.tokensPerSecond) })),
        order,
        {
          title: 'Training speed at the largest micro-batch',
          axis: 'tokens/s (2 ranks)',
          format: 'd',
          color: '#59a14f',
        },
      ),
    },
    {
      name: 'loss',
      // methods at the same micro-batch train the same losses, so their lines lie on top of each other
      spec: lossChart(loss, order, 'Training loss at the largest micro-batch', sameNote(rows)),
    },
  ];
}

/** 'ZeRO-1, ZeRO-2, ZeRO-3 coincide (...)' for each group of methods at one micro-batch. */
function sameNote(rows: readonly { label: string; maxMicroBatch: number }[]): string[] {
  const groups = new Map<number, string[]>();
  for (const r of rows) groups.set(r.maxMicroBatch, [...(groups.get(r.maxMicroBatch) ?? []), r.label]);
  const same = [...groups].filter(([, ls]) => ls.length > 1);
  // one subtitle line per group: a single long line would widen the chart (and the report scales it down)
  return same.map(([m, ls]) => `${ls.join(', ')}: one line (micro-batch ${m})`);
}
