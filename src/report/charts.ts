// Charts of the experiment as SVG strings, drawn with Vega-Lite (a declarative grammar of graphics: a chart is a JSON
// spec of data, marks and encodings) compiled to Vega and rendered headless in Node (vega's View with renderer
// 'none' and toSVG(): no browser, no canvas, no native module). Chosen because it is well kept (the UW Interactive
// Data Lab, releases every few months), pure JavaScript, renders in Node straight to SVG that embeds in a
// self-contained HTML file, and stacked bars, grouped bars and line charts are each a few lines of spec.
import { compile, type TopLevelSpec } from 'vega-lite';
import { parse, View } from 'vega';

const FONT = 'Helvetica, Arial, sans-serif';

/** The look every chart shares (fonts, sizes, a white background). */
const CONFIG = {
  background: 'white',
  font: FONT,
  title: { fontSize: 14, anchor: 'start' as const, offset: 8 },
  axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 160 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  view: { stroke: null },
};

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vg = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new View(parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface MemoryBar {
  method: string;
  category: string;
  mib: number;
}

/** Peak device memory per rank by category, one stacked bar per method, the capacity as a rule. */
export function memoryChart(rows: MemoryBar[], order: string[], capacityMiB: number, title: string): TopLevelSpec {
  const categoryOrder = [...new Set(rows.map((r) => r.category))];
  // stacked bottom-up in the order given (activations first, the biggest share that ZeRO frees room for)
  const values = rows.map((r) => ({ ...r, rank: categoryOrder.indexOf(r.category) }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 380,
    height: 240,
    layer: [
      {
        data: { values },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'method', type: 'nominal', sort: order, title: null, axis: { labelAngle: -30 } },
          y: { field: 'mib', type: 'quantitative', aggregate: 'sum', title: 'MiB per rank (peak)' },
          color: {
            field: 'category',
            type: 'nominal',
            title: null,
            sort: categoryOrder,
            scale: { scheme: 'tableau10' },
            legend: { orient: 'right', labelLimit: 170 },
          },
          order: { field: 'rank' },
          tooltip: [{ field: 'method' }, { field: 'category' }, { field: 'mib', format: '.1f' }],
        },
      },
      {
        data: { values: [{ capacity: capacityMiB }] },
        mark: { type: 'rule', color: '#c00', strokeDash: [4, 3] },
        encoding: { y: { field: 'capacity', type: 'quantitative' } },
      },
      {
        data: { values: [{ capacity: capacityMiB, label: `capacity ${capacityMiB} MiB` }] },
        mark: { type: 'text', align: 'right', dy: -6, color: '#c00', fontSize: 11, x: 'width' },
        encoding: { y: { field: 'capacity', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * One bar per method with its value printed on it (largest micro-batch, tokens/s); `ticks`: a second value per method
 * drawn as a black tick across its bar (the estimator's prediction), said in the subtitle.
 */
export function barChart(
  rows: { method: string; value: number }[],
  order: string[],
  o: {
    title: string;
    axis: string;
    format: string;
    color: string;
    ticks?: { method: string; value: number }[];
    subtitle?: string;
  },
): TopLevelSpec {
  const enc = {
    x: { field: 'method', type: 'nominal', sort: order, title: null, axis: { labelAngle: -30 } },
    y: { field: 'value', type: 'quantitative', title: o.axis },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title, subtitle: o.subtitle ?? '', subtitleFontSize: 11, subtitleColor: '#555' },
    width: 380,
    height: 240,
    data: { values: rows },
    layer: [
      { mark: { type: 'bar', color: o.color }, encoding: enc },
      {
        mark: { type: 'text', dy: -7, fontSize: 12 },
        encoding: { ...enc, text: { field: 'value', type: 'quantitative', format: o.format } },
      },
      ...(o.ticks === undefined
        ? []
        : [
            {
              data: { values: o.ticks },
              mark: { type: 'tick', color: '#000', thickness: 2, bandSize: 30 },
              encoding: enc,
            },
          ]),
    ],
  } as TopLevelSpec;
}

/** Training loss against tokens seen, one line per method. */
export function lossChart(
  rows: { method: string; tokens: number; loss: number }[],
  order: string[],
  title: string,
  subtitle: string | string[] = '',
): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle, subtitleFontSize: 11, subtitleColor: '#555' },
    width: 380,
    height: 240,
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 1.8 },
    encoding: {
      x: { field: 'tokens', type: 'quantitative', title: 'tokens trained' },
      y: { field: 'loss', type: 'quantitative', title: 'training loss (nats)', scale: { zero: false } },
      color: {
        field: 'method',
        type: 'nominal',
        sort: order,
        title: null,
        scale: { scheme: 'tableau10' },
        legend: { orient: 'right' },
      },
    },
  } as TopLevelSpec;
}
