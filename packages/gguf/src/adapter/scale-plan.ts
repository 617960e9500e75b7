import { type LoraAdapter, moduleLoraSettings } from "@peftjs/adapters";

/** How one module's PEFT scaling is expressed in a GGUF LoRA. */
export interface ModuleScale {
  /** The module's rank r (rows of lora_A). */
  readonly rank: number;
  /** PEFT's scaling s (α/r or α/√r, patterns applied). */
  readonly scaling: number;
  /** The scale llama.cpp applies from the file's alpha: α/r in float32, or 1 when α is 0. */
  readonly llamaCppScale: number;
  /** The factor folded into lora_B so that llama.cpp's scale gives s: s / llamaCppScale (1 when none is needed). */
  readonly fold: number;
}

/** The `adapter.lora.alpha` of a GGUF LoRA and the per-module folds that make every scale exact. */
export interface ScalePlan {
  /** The alpha written (a float32 value). */
  readonly alpha: number;
  /** Per module name. */
  readonly modules: ReadonlyMap<string, ModuleScale>;
}

/** llama.cpp's `llama_adapter_lora_weight::get_scale`: α/rank in float32, or 1 when α is 0. */
export function llamaCppLoraScale(alpha: number, rank: number): number {
  return alpha === 0 ? 1 : Math.fround(Math.fround(alpha) / rank);
}

/**
 * Chooses the GGUF alpha for an adapter. llama.cpp gives every tensor the scale α/r from one file-wide α and the
 * tensor's own rank r. PEFT's scaling s = α/r (α/√r under rsLoRA, with per-module r and α from rank_pattern /
 * alpha_pattern) is reproduced by α_gguf = s·r whenever s·r is the same for all modules; the most common s·r is
 * chosen, and a module with another s·r gets lora_B multiplied by s / (α_gguf / r). A plain LoRA therefore keeps
 * its alpha and its bytes; rsLoRA of one rank gets α·√r and no fold.
 */
export function planLoraScales(adapter: Pick<LoraAdapter, "config" | "modules">): ScalePlan {
  const settings = new Map<string, { rank: number; scaling: number }>();
  const counts = new Map<number, number>();
  for (const [name, { loraA }] of adapter.modules) {
    const { scaling } = moduleLoraSettings(adapter.config, name);
    const rank = loraA.rows;
    settings.set(name, { rank, scaling });
    const candidate = Math.fround(scaling * rank);
    counts.set(candidate, (counts.get(candidate) ?? 0) + 1);
  }
  let alpha = 0;
  let best = -1;
  for (const [candidate, count] of counts) {
    if (count > best) {
      alpha = candidate;
      best = count;
    }
  }
  const modules = new Map<string, ModuleScale>();
  for (const [name, { rank, scaling }] of settings) {
    const llamaCppScale = llamaCppLoraScale(alpha, rank);
    const fold = alpha !== 0 && Math.fround(scaling * rank) === alpha ? 1 : scaling / llamaCppScale;
    modules.set(name, { rank, scaling, llamaCppScale, fold });
  }
  return { alpha, modules };
}
