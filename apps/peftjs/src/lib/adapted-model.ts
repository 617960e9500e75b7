import { LoraModel } from "@peftjs/adapters";
import { attachAdapter, readAdapterFolder } from "./adapter-files.js";
import { type BaseModel, loadBaseModel } from "./base-model.js";

/**
 * Loads a base model folder and puts the given adapters on it, all active at once (their deltas add up, as
 * PEFT's several active adapters). PiSSA/OLoRA adapters go to overlay mode; every load runs the guards.
 */
export async function loadAdaptedModel(modelDir: string, adapterDirs: readonly string[]): Promise<BaseModel> {
  const base = await loadBaseModel(modelDir);
  if (adapterDirs.length === 0) return base;
  const lora = LoraModel.create(base.model, { store: base.store });
  const names: string[] = [];
  for (const [index, directory] of adapterDirs.entries()) {
    const name = `adapter_${index}`;
    attachAdapter(lora, name, await readAdapterFolder(directory), { activate: index === 0 });
    names.push(name);
  }
  lora.setActiveAdapters(names);
  return base;
}
