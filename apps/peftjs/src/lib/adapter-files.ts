import { existsSync } from "node:fs";
import { realpath } from "node:fs/promises";
import {
  adapterFromPeftTensors,
  adapterRecordOf,
  type LoraAdapter,
  type LoraFactors,
  type LoraModel,
  withLoraConfig,
} from "@peftjs/adapters";
import { savePeftAdapter } from "@peftjs/adapters/node";
import { deserialize } from "@peftjs/io";
import { readPeftAdapterFiles } from "@peftjs/models";
import { type AdapterRecord, adapterRecordToMetadata } from "@peftjs/state";
import { CliUsageError } from "../cli-error.js";
import { isHubId, openModelLocation } from "./model-location.js";

/**
 * Reads a PEFT adapter (`adapter_config.json` + `adapter_model.safetensors`) from a folder or a Hub id
 * `org/name[@revision]`. An adapter with only the older `adapter_model.bin` (a pickle) is refused with
 * `UnsupportedAdapterFormatError`, which says how to convert it.
 */
export async function readAdapterFolder(path: string, flag = "adapter"): Promise<LoraAdapter> {
  if (!existsSync(path) && !isHubId(path)) {
    throw new CliUsageError(
      `--${flag} ${path} is neither an existing folder nor a Hub id (org/name[@revision])`,
    );
  }
  const files = await readPeftAdapterFiles(await openModelLocation(path));
  const { tensors, metadata } = deserialize(files.weights);
  return adapterFromPeftTensors(files.config, tensors, metadata);
}

// The adapter semantics the commands ask about live in @peftjs/adapters.
export {
  adapterRecordOf,
  isInitAdapterForConversion,
  isUnconvertedAdapter as isUnconverted,
} from "@peftjs/adapters";

/**
 * Saves an adapter folder as PEFT's `save_pretrained` does, which writes `inference_mode: true` (PEFT's
 * PiSSA/OLoRA init adapters, `adapter_init/`, say false: pass `inferenceMode` to match them).
 */
export async function saveAdapterFolder(
  folder: string,
  adapter: LoraAdapter,
  inferenceMode = true,
): Promise<void> {
  await savePeftAdapter(folder, {
    ...adapter,
    config: withLoraConfig(adapter.config, { inference_mode: inferenceMode }),
  });
}

/**
 * Loads an adapter file onto a model (overlay mode for PiSSA/OLoRA, the default guards on; a `peftjs init`
 * adapter is placed by its record), its delta s·B·A scaled by `weight`.
 */
export function attachAdapter(
  lora: LoraModel,
  name: string,
  adapter: LoraAdapter,
  options: { activate: boolean; weight?: number },
): void {
  lora.loadAdapter(name, adapter, { activate: options.activate, weight: options.weight ?? 1 });
}

/** The adapter with `changes` applied to its record (its `peftjs.*` metadata) and extra metadata entries added. */
export function withRecord(
  adapter: LoraAdapter,
  changes: Partial<AdapterRecord>,
  extraMetadata: Record<string, string> = {},
): LoraAdapter {
  const record = { ...adapterRecordOf(adapter), ...changes };
  return {
    ...adapter,
    metadata: { ...adapter.metadata, ...extraMetadata, ...adapterRecordToMetadata(record) },
  };
}

/** One adapter argument of a command, for {@link checkDistinctAdapters}. */
export interface AdapterArgument {
  readonly flag: string;
  readonly path: string;
  readonly adapter: LoraAdapter;
}

/**
 * Refuses an initial/trained pair that is one adapter twice: the same folder (links resolved) or identical
 * factors. Converting or reloading it gives the bare base model, not the trained one.
 */
export async function checkDistinctAdapters(
  initial: AdapterArgument,
  trained: AdapterArgument,
): Promise<void> {
  const canonical = async (path: string) => (existsSync(path) ? realpath(path) : path);
  if ((await canonical(initial.path)) === (await canonical(trained.path))) {
    throw new CliUsageError(
      `--${initial.flag} and --${trained.flag} are the same folder (${initial.path}); pass the init adapter and the trained one`,
    );
  }
  const identical = [...trained.adapter.modules].every(([name, { loraA, loraB }]) => {
    const start = initial.adapter.modules.get(name);
    const same = (left: LoraFactors["loraA"], right: LoraFactors["loraA"] | undefined) =>
      right !== undefined &&
      left.data.length === right.data.length &&
      left.data.every((value, index) => value === right.data[index]);
    return same(loraA, start?.loraA) && same(loraB, start?.loraB);
  });
  if (identical) {
    throw new CliUsageError(
      `--${trained.flag} ${trained.path} has exactly the factors of --${initial.flag} ${initial.path}: nothing was trained, or it is the same adapter; the result would be the bare base model`,
    );
  }
}
