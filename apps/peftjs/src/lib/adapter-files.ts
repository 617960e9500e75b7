import { existsSync } from "node:fs";
import { realpath } from "node:fs/promises";
import {
  type AdapterPlacementOptions,
  type LoraAdapter,
  type LoraFactors,
  type LoraModel,
  loraConfigToJson,
  withLoraConfig,
} from "@peftjs/adapters";
import { loadPeftAdapter, savePeftAdapter } from "@peftjs/adapters/node";
import {
  type AdapterRecord,
  adapterRecordFromMetadata,
  adapterRecordToMetadata,
  deriveAdapterRecord,
  type Fingerprint,
  initMethodMutatesBase,
} from "@peftjs/state";
import { CliUsageError } from "../cli-error.js";

/** Reads a PEFT adapter folder (`adapter_config.json` + `adapter_model.safetensors`). */
export async function readAdapterFolder(path: string, flag = "adapter"): Promise<LoraAdapter> {
  if (!existsSync(path)) throw new CliUsageError(`--${flag} ${path} does not exist`);
  return loadPeftAdapter(path);
}

/** The adapter's record: its `peftjs.*` metadata, or derived from its config (files written by PEFT). */
export function adapterRecordOf(adapter: LoraAdapter, name = "default"): AdapterRecord {
  return (
    adapterRecordFromMetadata(adapter.metadata) ??
    deriveAdapterRecord(loraConfigToJson(adapter.config), { name })
  );
}

/** Whether the config makes loaders (PEFT's and ours) re-run a base-rewriting init (PiSSA, OLoRA) on load. */
export function isUnconverted(adapter: LoraAdapter): boolean {
  return initMethodMutatesBase(adapter.config.init_lora_weights);
}

/**
 * Whether this is a PiSSA/OLoRA init adapter saved the way PEFT's docs ask for the later conversion
 * (`init_lora_weights: true`, factors A₀/B₀) and recognisable as such by its record (`peftjs init` writes
 * one): plain LoRA by its config, but its record says it belongs on the residual base.
 */
export function isInitAdapterForConversion(adapter: LoraAdapter): boolean {
  return !isUnconverted(adapter) && adapterRecordOf(adapter).needsMutatedBase;
}

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
 * How an adapter file is placed on a `LoraModel` whose base has fingerprint `baseFingerprint`. A `peftjs init`
 * adapter (A₀/B₀ saved with `init_lora_weights: true`) on its recorded residual base is plain LoRA there (as
 * PEFT loads it); on any other base it gets its method back and is its own init adapter, so it sits in overlay
 * mode (W − s·B₀A₀ + s·BA with B = B₀, A = A₀: the original model) and trains as PiSSA/OLoRA. Every other
 * adapter is loaded as it is.
 */
export function placementOf(
  adapter: LoraAdapter,
  baseFingerprint: Fingerprint,
): { adapter: LoraAdapter; options: AdapterPlacementOptions } {
  if (!isInitAdapterForConversion(adapter)) return { adapter, options: {} };
  const record = adapterRecordOf(adapter);
  if (record.residualBaseFingerprint === baseFingerprint) return { adapter, options: {} };
  const restored = {
    ...adapter,
    config: withLoraConfig(adapter.config, { init_lora_weights: record.initMethod }),
  };
  return { adapter: restored, options: { initialAdapter: adapter } };
}

/** The adapter with every lora_B multiplied by `weight`, so its delta s·B·A is scaled by `weight`. */
export function weightedAdapter(adapter: LoraAdapter, weight: number): LoraAdapter {
  if (weight === 1) return adapter;
  const modules = new Map<string, LoraFactors>();
  for (const [name, { loraA, loraB }] of adapter.modules) {
    modules.set(name, { loraA, loraB: { ...loraB, data: loraB.data.map((value) => value * weight) } });
  }
  return { ...adapter, modules };
}

/**
 * Loads an adapter file onto a model (overlay mode for PiSSA/OLoRA, the default guards on), its delta s·B·A
 * scaled by `weight` (a PiSSA/OLoRA correction −s·B₀A₀ is not scaled: the weight applies to what training
 * learned on top of the residual, as it would on PEFT's residual base).
 */
export function attachAdapter(
  lora: LoraModel,
  name: string,
  adapter: LoraAdapter,
  options: { activate: boolean; weight?: number },
): void {
  const placement = placementOf(adapter, lora.store.modelFingerprint());
  lora.loadAdapter(name, weightedAdapter(placement.adapter, options.weight ?? 1), {
    ...placement.options,
    activate: options.activate,
  });
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
  if ((await realpath(initial.path)) === (await realpath(trained.path))) {
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
