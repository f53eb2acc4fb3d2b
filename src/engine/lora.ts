// LoRA adapters on the model's linear layers, initialised as PEFT does (A Kaiming-uniform with a = √5,
// B zero, so the adapted model starts equal to the base), saved and loaded in PEFT's format
// (adapter_config.json + adapter_model.safetensors with PEFT's tensor names) so PEFT and vLLM load them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from './config.js';
import { SafetensorsFile, writeSafetensors } from './io/safetensors.js';
import { rng } from '../random.js';
import { LINEAR_NAMES, type CausalLM, type LinearName, type Param } from './model.js';

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: LinearName[];
}

export const DEFAULT_LORA: LoraConfig = { r: 16, alpha: 32, dropout: 0, targetModules: [...LINEAR_NAMES] };

/** PEFT's name of an adapter matrix: base_model.model.<module>.lora_A.weight. */
export function peftTensorName(linearName: string, which: 'A' | 'B'): string {
  return `base_model.model.${linearName}.lora_${which}.weight`;
}

/** Attaches fresh adapters to every targeted linear; returns the trainable parameters. */
export function attachLora(model: CausalLM, cfg: LoraConfig, seed = 0): Param[] {
  const random = rng(seed);
  const params: Param[] = [];
  for (const L of model.layers)
    for (const n of cfg.targetModules) {
      const lin = L.lin[n];
      const A = new Float32Array(cfg.r * lin.in);
      // kaiming_uniform_(a=√5) on [r, in]: bound = sqrt(6 / ((1 + a²) · fan_in)) = 1/sqrt(fan_in)
      const bound = 1 / Math.sqrt(lin.in);
      for (let i = 0; i < A.length; i++) A[i] = (random() * 2 - 1) * bound;
      const pa: Param = { name: peftTensorName(lin.name, 'A'), shape: [cfg.r, lin.in], data: A, grad: new Float32Array(A.length) };
      const B = new Float32Array(lin.out * cfg.r);
      const pb: Param = { name: peftTensorName(lin.name, 'B'), shape: [lin.out, cfg.r], data: B, grad: new Float32Array(B.length) };
      lin.lora = { A: pa, B: pb, scale: cfg.alpha / cfg.r, dropout: cfg.dropout };
      params.push(pa, pb);
    }
  return params;
}

export function saveLora(dir: string, model: CausalLM, cfg: LoraConfig, baseModel: string): void {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, Tensor>();
  for (const lin of model.linears()) {
    if (!lin.lora) continue;
    tensors.set(lin.lora.A.name, { shape: lin.lora.A.shape, data: lin.lora.A.data });
    tensors.set(lin.lora.B.name, { shape: lin.lora.B.shape, data: lin.lora.B.data });
  }
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors);
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: cfg.r,
    lora_alpha: cfg.alpha,
    lora_dropout: cfg.dropout,
    target_modules: cfg.targetModules,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
  };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
}

export function readLoraConfig(dir: string): LoraConfig {
  const file = join(dir, 'adapter_config.json');
  if (!existsSync(file)) throw new Error(`adapter '${dir}' has no adapter_config.json (is it a PEFT LoRA folder?)`);
  const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw new Error(`adapter '${dir}' is ${String(c.peft_type)}, not LORA`);
  const targets = (Array.isArray(c.target_modules) ? c.target_modules : String(c.target_modules ?? '').split(',')) as string[];
  const bad = targets.filter((t) => !(LINEAR_NAMES as readonly string[]).includes(t));
  if (bad.length) throw new Error(`adapter '${dir}' targets ${bad.join(', ')} (supported: ${LINEAR_NAMES.join(', ')})`);
  return { r: Number(c.r), alpha: Number(c.lora_alpha ?? c.r), dropout: Number(c.lora_dropout ?? 0), targetModules: targets as LinearName[] };
}

/** Loads a PEFT adapter into the model (attaching adapters as its config says); returns the parameters. */
export function loadLora(dir: string, model: CausalLM): { config: LoraConfig; params: Param[] } {
  const cfg = readLoraConfig(dir);
  const params = attachLora(model, cfg);
  const st = new SafetensorsFile(join(dir, 'adapter_model.safetensors'));
  try {
    for (const p of params) {
      // PEFT may or may not include the adapter name ('default') in the key.
      const alt = p.name.replace('.weight', '.default.weight');
      const key = st.entries.has(p.name) ? p.name : st.entries.has(alt) ? alt : null;
      if (!key) throw new Error(`adapter '${dir}' lacks tensor '${p.name}'`);
      const t = st.read(key);
      if (t.data.length !== p.data.length) throw new Error(`adapter tensor '${key}' has shape [${t.shape}], expected [${p.shape}]`);
      p.data.set(t.data);
    }
  } finally {
    st.close();
  }
  return { config: cfg, params };
}

/** Folds every adapter into its base weight (W += scale · B·A) and detaches it. */
export function mergeLora(model: CausalLM): void {
  for (const lin of model.linears()) {
    if (!lin.lora) continue;
    const { A, B, scale } = lin.lora;
    const r = A.shape[0]!;
    for (let o = 0; o < lin.out; o++)
      for (let k = 0; k < r; k++) {
        const b = scale * B.data[o * r + k]!;
        if (b === 0) continue;
        const row = o * lin.in;
        const arow = k * lin.in;
        for (let i = 0; i < lin.in; i++) lin.w[row + i]! += b * A.data[arow + i]!;
      }
    lin.lora = null;
  }
}
