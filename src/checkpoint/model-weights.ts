// Weights into a plain (materialised, single-process) model: GPT(device, config) then loadModelWeights(model, path).
// The engine's way (each rank its own segments) is weights.ts.
import { CheckpointError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { f32ToHalfArray } from '../tensor/dtype.js';
import { decodeToF32 } from './hf-gpt2.js';
import { openWeights, type WeightsInReport } from './weights.js';

export function loadModelWeights(model: Module, path: string): WeightsInReport {
  const params = model.parameters();
  const cfg = (model as { config?: unknown }).config ?? null;
  const { rd, byName, file } = openWeights(
    path,
    params.map((p) => p.name),
    params.map((p) => p.shape),
    cfg,
  );
  try {
    for (const p of params) {
      if (p.data === null)
        throw new CheckpointError(
          `loadModelWeights: parameter ${p.name} has no data (a model built with materialize: false); ` +
            'pass the weights to the engine instead (engine.loadWeights)',
        );
      const hf = byName.get(p.name)!;
      const t = rd.info(hf);
      const values = decodeToF32(rd.readElements(hf, 0, p.numel), t.dtype, p.numel, `${file} "${hf}"`);
      const d = p.data;
      if (d.dtype === 'f32') p.device.f32(d.ptr, p.numel).set(values);
      else f32ToHalfArray(values, d.dtype as 'bf16' | 'f16', p.device.u16(d.ptr, p.numel));
    }
  } finally {
    rd.close();
  }
  return { path: file, tensors: params.length, bytesRead: rd.bytesRead };
}
