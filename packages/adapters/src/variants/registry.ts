import type { RandomGenerator } from "@peftjs/tensor";
import type { InitLoraWeights } from "../config/lora-config.js";
import { AdapterInitError } from "../errors.js";
import type { Matrix } from "../math/matrix.js";

/** Storage dtype of a base weight, as far as inits care (they compute in float32 and round back). */
export type BaseWeightDtype = "F32" | "F16" | "BF16";

/** The base Linear weight an init may read: float32 values of W [out, in] (or [in, out] with fan_in_fan_out). */
export interface BaseWeight {
  /** The weight's values, widened to float32. */
  readonly values: Matrix;
  /** The dtype the weight is stored in; factors and residuals are rounded to it as PEFT does. */
  readonly dtype: BaseWeightDtype;
}

/** Everything an init gets for one module. */
export interface VariantInitContext {
  /** Hugging Face module name, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly moduleName: string;
  /** The init requested (`init_lora_weights`). */
  readonly init: InitLoraWeights;
  /** Rank r of this module (rank_pattern applied). */
  readonly r: number;
  /** Scaling s of this module. */
  readonly scaling: number;
  /** in_features of the Linear. */
  readonly inFeatures: number;
  /** out_features of the Linear. */
  readonly outFeatures: number;
  /** True when the weight is stored [in, out] (Conv1D); false for Linear. */
  readonly fanInFanOut: boolean;
  /** The base weight; present for every variant with {@link AdapterVariant.readsBaseWeight}. */
  readonly weight?: BaseWeight;
  /** The seeded generator of this adapter (one stream per adapter, modules drawn in model order). */
  readonly generator: RandomGenerator;
}

/** What an init produces for one module. */
export interface VariantInitResult {
  /** lora_A [r, in], float32 values (already rounded through the base dtype where PEFT does so). */
  readonly loraA: Matrix;
  /** lora_B [out, r]. */
  readonly loraB: Matrix;
  /**
   * For inits that move part of W into the adapter (PiSSA, OLoRA): the residual W_res = W − s·B₀A₀ in the
   * weight's own layout, float32 values before rounding to the base dtype (PEFT subtracts the unrounded factors).
   */
  readonly residual?: Matrix;
}

/**
 * An adapter variant: an init (and, for future variants, forward/merge hooks) selected by `init_lora_weights`.
 * Register one with {@link registerAdapterVariant}; see CONTRIBUTING.md, "Adding an adapter variant".
 */
export interface AdapterVariant {
  /** Unique name, e.g. `"pissa"`. */
  readonly name: string;
  /** One-line description for docs and error messages. */
  readonly description: string;
  /** Whether this variant handles an `init_lora_weights` value. */
  handles(init: InitLoraWeights): boolean;
  /** True when the init reads the base weight (SVD/QR-based inits). */
  readonly readsBaseWeight: boolean;
  /**
   * True when the init moves s·B₀A₀ out of the base weight (PEFT replaces W by W_res): such adapters are only
   * valid on the residual base, or with the frozen correction −s·B₀A₀ (overlay mode), or after conversion.
   */
  readonly movesBaseWeight: boolean;
  /** Computes the initial factors (and residual) of one module. */
  initialize(context: VariantInitContext): VariantInitResult;
}

const variants: AdapterVariant[] = [];

/**
 * Adds a variant to the registry. Throws when the name is taken. Variants are consulted newest first, so a
 * later registration can specialise an init an earlier one also handles.
 */
export function registerAdapterVariant(variant: AdapterVariant): void {
  if (variants.some((existing) => existing.name === variant.name)) {
    throw new AdapterInitError(`an adapter variant named "${variant.name}" is already registered`);
  }
  variants.unshift(variant);
}

/** Removes a variant by name (for tests and plugins); returns whether it was registered. */
export function unregisterAdapterVariant(name: string): boolean {
  const index = variants.findIndex((variant) => variant.name === name);
  if (index < 0) return false;
  variants.splice(index, 1);
  return true;
}

/** The registered variants, newest first. */
export function listAdapterVariants(): readonly AdapterVariant[] {
  return [...variants];
}

/** The variant that handles `init`; throws {@link AdapterInitError} naming the registered ones when none does. */
export function variantForInit(init: InitLoraWeights): AdapterVariant {
  const variant = variants.find((candidate) => candidate.handles(init));
  if (variant === undefined) {
    throw new AdapterInitError(
      `no adapter variant handles init_lora_weights ${JSON.stringify(init)}; registered: ${variants.map((entry) => entry.name).join(", ")}`,
    );
  }
  return variant;
}
