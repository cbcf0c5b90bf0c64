// experiments/report.md: the tables of the run, the seed's figures, and the charts as SVG files beside it.
import type { ExperimentOptions, ExperimentResult } from '../train/experiments.js';
import { SEED_TABLE, experimentTables } from './tables.js';
import type { NamedChart } from './charts-data.js';

export function reportMarkdown(
  res: ExperimentResult,
  o: ExperimentOptions,
  seconds: number,
  charts: readonly NamedChart[],
): string {
  const lines = [
    '# ZeRO experiments: DDP vs ZeRO-1/2/3 vs ZeRO-3 + offload',
    '',
    `Written by \`zerots experiments\` (\`npm start\`) in ${seconds.toFixed(0)} s on ${new Date().toISOString().slice(0, 10)}. ` +
      'The machine may have been shared: times and tokens/s are noisy, memory and micro-batches are exact.',
    '',
    '```',
    ...experimentTables(res, o),
    '',
    ...SEED_TABLE,
    '```',
    '',
    ...charts.map((c) => `![${c.name}](${c.name}.svg)`),
    '',
    'The same with the charts beside the tables: report.html (self-contained).',
    '',
  ];
  return lines.join('\n');
}
