import type { LoraConfig } from "../config/lora-config.js";
import { BASE_ADAPTER_NAME, MixedBatchError } from "../layer/mixed-batch.js";
import { loraVariantFor } from "../variants/registry.js";

/** What {@link assertMixedBatchAllowed} needs to know of a `LoraModel`. */
export interface MixedBatchState {
  /** The adapters on the model and their configs. */
  readonly adapters: ReadonlyMap<string, LoraConfig>;
  /** Whether the model is in training mode (dropout on). */
  readonly training: boolean;
  /** The merged adapters. */
  readonly merged: readonly string[];
}

/**
 * PEFT's checks on `adapter_names` (`_enable_peft_forward_hooks`, `_check_forward_args`): not in training
 * mode, every name an adapter of the model or `"__base__"`, nothing merged, and only plain LoRA (PEFT
 * refuses DoRA: "Cannot pass `adapter_names` when DoRA is enabled"; peftjs refuses every variant selected by
 * a config field, the same rule for variants registered later). The batch length is checked where the batch
 * is known.
 *
 * @throws MixedBatchError naming the offending names.
 */
export function assertMixedBatchAllowed(names: readonly string[], state: MixedBatchState): void {
  if (names.length === 0) {
    throw new MixedBatchError(
      "empty",
      'adapterNames is empty: give one adapter name (or "__base__") per batch row',
    );
  }
  if (state.training) {
    throw new MixedBatchError(
      "training",
      `adapterNames ${JSON.stringify(names)} cannot be used in training mode (PEFT: "Cannot pass adapter_names when the model is in training mode"); call setTraining(false) first`,
    );
  }
  const unique = [...new Set(names)].filter((name) => name !== BASE_ADAPTER_NAME);
  const unknown = unique.filter((name) => !state.adapters.has(name)).sort();
  if (unknown.length > 0) {
    throw new MixedBatchError(
      "unknown",
      `adapterNames names adapters the model does not have: ${unknown.map((name) => JSON.stringify(name)).join(", ")} (it has ${JSON.stringify([...state.adapters.keys()])}; "${BASE_ADAPTER_NAME}" means no adapter)`,
    );
  }
  if (state.merged.length > 0) {
    throw new MixedBatchError(
      "merged",
      `adapterNames cannot be used while adapters ${JSON.stringify(state.merged)} are merged; unmerge them first`,
    );
  }
  for (const name of unique) {
    const variant = loraVariantFor(state.adapters.get(name)!);
    if (variant.configField !== undefined) {
      throw new MixedBatchError(
        "variant",
        `adapter "${name}" uses ${variant.configField} (${variant.name}), which a mixed batch does not support (as in PEFT); run its rows separately with setActiveAdapters`,
      );
    }
  }
}
