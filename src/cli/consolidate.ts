// `zerots consolidate <dir> [--tag T] --out model.safetensors [--dtype fp32|bf16|fp16]`: a saved checkpoint's fp32
// master weights as one safetensors file in Hugging Face's GPT-2 layout, config.json beside it (src/checkpoint).
import { consolidateCheckpoint } from '../checkpoint/consolidate.js';

export interface ConsolidateCliOptions {
  dir: string;
  out: string;
  tag?: string;
  dtype?: 'fp32' | 'bf16' | 'fp16';
}

export function consolidate(o: ConsolidateCliOptions): void {
  const t0 = performance.now();
  const r = consolidateCheckpoint(o.dir, o.out, { tag: o.tag, dtype: o.dtype });
  const sec = (performance.now() - t0) / 1000;
  console.log(
    `consolidated ${r.checkpoint}: ${r.tensors} tensors, ${(r.bytes / 2 ** 20).toFixed(1)} MiB (${o.dtype ?? 'fp32'}) -> ` +
      `${r.out}${r.config === null ? '' : ` and ${r.config}`} in ${sec.toFixed(2)} s; largest tensor held ` +
      `${(r.largestTensorBytes / 2 ** 20).toFixed(1)} MiB`,
  );
  console.log(JSON.stringify({ consolidate: { ...r, seconds: sec } }));
}
