import type { Tensor } from "@peftjs/tensor";
import { AdapterShapeError } from "../errors.js";
import { peftBiasKey, peftKey } from "../layer/parameter-keys.js";

/** What the trainable view needs of an adapter layer (LoraLinear, LoraEmbedding, TrainableTokensLayer). */
export interface TrainableLayer {
  /** Whether the layer carries adapter `name`. */
  hasAdapter(name: string): boolean;
  /** The trainable parameter names of adapter `name` in this layer. */
  parameterNames(name: string): string[];
  /** One parameter's current tensor. */
  parameter(name: string, parameter: string): Tensor;
  /** Installs one parameter's new tensor. */
  setParameter(name: string, parameter: string, value: Tensor): void;
  /** Adapter `name`'s own bias of the layer (`bias: "lora_only" | "all"`; LoraLinear only). */
  biasOverride?(name: string): Tensor | undefined;
  /** Installs adapter `name`'s new bias (see {@link TrainableLayer.biasOverride}). */
  setBiasOverride?(name: string, bias: Tensor): void;
}

/** One trainable tensor: where it lives and the key it is trained and saved under. */
interface TrainableSlot {
  readonly key: string;
  readonly layer: TrainableLayer;
  readonly adapter: string;
  /** The adapter parameter (`lora_A`, …), or null for the adapter's own bias of the layer. */
  readonly parameter: string | null;
}

function currentValue(slot: TrainableSlot): Tensor {
  return slot.parameter === null
    ? slot.layer.biasOverride!(slot.adapter)!
    : slot.layer.parameter(slot.adapter, slot.parameter);
}

/**
 * The trainable view of a model's adapters, the `trainable` argument of `@peftjs/models`' `train`
 * (structurally its `TrainableParameters`): every parameter (lora_A, lora_B and a variant's extra ones) of the
 * active adapters and the layer biases an adapter trains (`bias: "lora_only" | "all"`, keyed `….base_layer.bias`
 * or `….bias` as PEFT saves them), keyed by {@link peftKey} — PEFT's file keys while one adapter is active, its in-model keys
 * with the adapter name when several are. Base weights and overlay corrections are never in it. Reading and
 * installing parameters touches only device tensors: nothing is read back to the host.
 */
export class TrainableAdapters {
  readonly #layers: () => ReadonlyMap<string, TrainableLayer>;
  readonly #active: () => readonly string[];

  /** @internal Built by `LoraModel.trainable`. */
  constructor(layers: () => ReadonlyMap<string, TrainableLayer>, active: () => readonly string[]) {
    this.#layers = layers;
    this.#active = active;
  }

  /** The trainable tensors by key (the layers' own tensors: do not dispose them). */
  parameters(): Map<string, Tensor> {
    return new Map(this.#slots().map((slot) => [slot.key, currentValue(slot)]));
  }

  /**
   * Installs updated tensors keyed as {@link TrainableAdapters.parameters} returns them (one optimiser step).
   * The layers take ownership of the new tensors and dispose the ones they replace.
   *
   * @throws AdapterShapeError when a key is missing or unknown, or a shape differs; nothing is installed then.
   */
  setParameters(updated: ReadonlyMap<string, Tensor>): void {
    const slots = this.#slots();
    const missing = slots.filter((slot) => !updated.has(slot.key));
    if (missing.length > 0) {
      throw new AdapterShapeError(`updated parameters lack ${missing.map((slot) => slot.key).join(", ")}`);
    }
    if (updated.size !== slots.length) {
      const known = new Set(slots.map((slot) => slot.key));
      const extra = [...updated.keys()].filter((key) => !known.has(key));
      throw new AdapterShapeError(`updated parameters name no trainable tensor: ${extra.join(", ")}`);
    }
    for (const slot of slots) {
      const current = currentValue(slot);
      const next = updated.get(slot.key)!;
      if (next.shape.join() !== current.shape.join()) {
        throw new AdapterShapeError(
          `${slot.key} is [${next.shape.join(", ")}], expected [${current.shape.join(", ")}]`,
        );
      }
    }
    for (const slot of slots) {
      const value = updated.get(slot.key)!;
      if (slot.parameter === null) slot.layer.setBiasOverride!(slot.adapter, value);
      else slot.layer.setParameter(slot.adapter, slot.parameter, value);
    }
  }

  #slots(): TrainableSlot[] {
    const active = this.#active();
    const slots: TrainableSlot[] = [];
    for (const [modulePath, layer] of this.#layers()) {
      for (const adapter of active) {
        if (layer.hasAdapter(adapter)) {
          for (const parameter of layer.parameterNames(adapter)) {
            const key = peftKey(modulePath, parameter, active.length > 1 ? adapter : undefined);
            slots.push({ key, layer, adapter, parameter });
          }
        }
        // PEFT's bias "lora_only" / "all": the layer's bias trains too, under its PEFT key
        if (layer.biasOverride?.(adapter) !== undefined) {
          const key = peftBiasKey(modulePath, layer.hasAdapter(adapter));
          slots.push({ key, layer, adapter, parameter: null });
        }
      }
    }
    return slots;
  }
}
