/**
 * Node-only entry of @peftjs/adapters: read and write PEFT adapter folders on disk.
 * @packageDocumentation
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { readJsonFile, readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from "@peftjs/io/node";
import type { LoraAdapter } from "./adapter.js";
import { serializeLoraConfig } from "./config/lora-config.js";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterFromPeftTensors,
  adapterToPeftTensors,
  type EncodePeftAdapterOptions,
} from "./files/peft-format.js";

/** Loads a PEFT adapter folder (`adapter_config.json` + `adapter_model.safetensors`). */
export async function loadPeftAdapter(directory: string): Promise<LoraAdapter> {
  const configJson = await readJsonFile(join(directory, ADAPTER_CONFIG_FILE));
  const { tensors, metadata } = await readSafetensorsFile(join(directory, ADAPTER_WEIGHTS_FILE));
  return adapterFromPeftTensors(configJson, tensors, metadata);
}

/** Saves an adapter as a PEFT adapter folder (creating it); each file is written atomically. */
export async function savePeftAdapter(
  directory: string,
  adapter: LoraAdapter,
  options: EncodePeftAdapterOptions = {},
): Promise<void> {
  await mkdir(directory, { recursive: true });
  const { tensors, metadata } = adapterToPeftTensors(adapter, options);
  await writeFileAtomic(
    join(directory, ADAPTER_CONFIG_FILE),
    new TextEncoder().encode(serializeLoraConfig(adapter.config)),
  );
  await writeSafetensorsFile(join(directory, ADAPTER_WEIGHTS_FILE), tensors, metadata);
}
