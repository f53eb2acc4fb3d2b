// A reward from its name or file: a preset name, or a YAML composition of components.
import { existsSync } from 'node:fs';
import { loadYamlConfig } from '../config-file.js';
import { formatZodError, UsageError } from '../errors.js';
import { PRESETS, RewardConfig } from './presets.js';

/** `spec` is a preset name or a YAML reward config file; `mode` overrides the comparison mode. */
export function loadRewardConfig(spec: string, mode?: 'spider' | 'bird' | 'strict'): RewardConfig {
  let cfg: RewardConfig;
  if (PRESETS[spec]) cfg = { preset: spec };
  else if (existsSync(spec)) {
    const raw = loadYamlConfig(spec);
    const p = RewardConfig.safeParse(raw);
    if (!p.success) throw new UsageError(formatZodError(p.error, `reward config '${spec}'`));
    cfg = p.data;
  } else throw new UsageError(`unknown reward preset '${spec}' (known: ${Object.keys(PRESETS).join(', ')}; or pass a YAML file)`);
  return mode ? { ...cfg, mode } : cfg;
}
