import type { Tensor } from "@peftjs/tensor";
import { AdapterShapeError } from "../errors.js";
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
}

import { peftKey } from "../layer/parameter-keys.js";

/** One trainable tensor: where it lives and the key it is trained and saved under. */
interface TrainableSlot {
  readonly key: string;
  readonly layer: TrainableLayer;
  readonly adapter: string;
  readonly parameter: string;
}

/**
 * The trainable view of a model's adapters, the `trainable` argument of `@peftjs/models`' `train`
 * (structurally its `TrainableParameters`): every parameter (lora_A, lora_B and a variant's extra ones) of the
 * active adapters, keyed by {@link peftKey} — PEFT's file keys while one adapter is active, its in-model keys
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
    return new Map(
      this.#slots().map((slot) => [slot.key, slot.layer.parameter(slot.adapter, slot.parameter)]),
    );
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
      const current = slot.layer.parameter(slot.adapter, slot.parameter);
      const next = updated.get(slot.key)!;
      if (next.shape.join() !== current.shape.join()) {
        throw new AdapterShapeError(
          `${slot.key} is [${next.shape.join(", ")}], expected [${current.shape.join(", ")}]`,
        );
      }
    }
    for (const slot of slots) slot.layer.setParameter(slot.adapter, slot.parameter, updated.get(slot.key)!);
  }

  #slots(): TrainableSlot[] {
    const active = this.#active();
    const slots: TrainableSlot[] = [];
    for (const [modulePath, layer] of this.#layers()) {
      for (const adapter of active) {
        if (!layer.hasAdapter(adapter)) continue;
        for (const parameter of layer.parameterNames(adapter)) {
          const key = peftKey(modulePath, parameter, active.length > 1 ? adapter : undefined);
          slots.push({ key, layer, adapter, parameter });
        }
      }
    }
    return slots;
  }
}
