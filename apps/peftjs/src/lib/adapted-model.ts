import { LoraModel } from "@peftjs/adapters";
import { attachAdapter, readAdapterFolder } from "./adapter-files.js";
import type { AdapterSpec } from "./adapter-spec.js";
import { type BaseModel, loadBaseModel } from "./base-model.js";

/** A base model with its adapters: `lora` manages them (undefined when no adapter was given). */
export interface AdaptedModel extends BaseModel {
  /** The adapters on the model (mixed batches, `withAdapterNames`), if any. */
  readonly lora: LoraModel | undefined;
}

/**
 * Loads a base model folder and puts the given adapters on it, all active at once (their deltas add up, as
 * PEFT's several active adapters), each under its name and scaled by its weight. PiSSA/OLoRA adapters go to
 * overlay mode; every load runs the guards.
 */
export async function loadAdaptedModel(
  modelDir: string,
  adapters: readonly (AdapterSpec & { weight: number })[],
): Promise<AdaptedModel> {
  const base = await loadBaseModel(modelDir);
  if (adapters.length === 0) return { ...base, lora: undefined };
  const lora = LoraModel.create(base.model);
  for (const [index, spec] of adapters.entries()) {
    attachAdapter(lora, spec.name, await readAdapterFolder(spec.path), {
      activate: index === 0,
      weight: spec.weight,
    });
  }
  lora.setActiveAdapters(adapters.map((spec) => spec.name));
  return { ...base, lora };
}
