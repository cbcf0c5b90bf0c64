// The lines a run prints once at its start about its config: the values filled in for "auto" (auto.ts), the keys
// accepted without effect, and the keys DeepSpeed ignores or reads elsewhere (set aside, with what zerots does).
import { describeFilled, type FilledValue } from './auto.js';
import type { ZeroConfig } from './types.js';

export function configNotices(config: ZeroConfig, filled: readonly FilledValue[] = []): string[] {
  // "auto" bucket sizes (fillAuto) and unset ones (resolveConfig) are said together, in one line
  const out = describeFilled([...filled, ...config.sizedFromModel]);
  if (config.ignoredKeys.length > 0) out.push(`config: accepted without effect: ${config.ignoredKeys.join(', ')}`);
  for (const w of config.warnings) out.push(`warning: ${w}`);
  return out;
}
