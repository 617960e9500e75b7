import type { RandomGenerator, Tensor } from "@peftjs/tensor";
import type { InitLoraWeights } from "../config/lora-config.js";
import { AdapterInitError } from "../errors.js";
import type { Matrix } from "../math/matrix.js";
import { builtInInitMethods } from "./index.js";

/** Storage dtype of a base weight, as far as inits care (they compute in float32 and round back). */
export type BaseWeightDtype = "F32" | "F16" | "BF16";

/** The base Linear weight an init may read: float32 values of W [out, in] (or [in, out] with fan_in_fan_out). */
export interface BaseWeight {
  /** The weight's values, widened to float32 (read from the model's weight store on first access). */
  readonly values: Matrix;
  /** The dtype the weight is stored in; factors and residuals are rounded to it as PEFT does. */
  readonly dtype: BaseWeightDtype;
  /**
   * The same values as a 2-D tensor already on the active backend, as stored (float32, or the 16-bit dtype
   * widened by the kernels that read it), when the model has one: an init whose work is backend products
   * (PiSSA's SVDs) reads this instead of `values` and saves W's trip through the host. It belongs to the model:
   * never dispose it.
   */
  readonly tensor?: Tensor;
}

/** Everything an init gets for one module. */
export interface InitContext {
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
  /** The base weight; present for every init with {@link InitMethod.readsBaseWeight}. */
  readonly weight?: BaseWeight;
  /** The seeded generator of this adapter (one stream per adapter, modules drawn in model order). */
  readonly generator: RandomGenerator;
  /**
   * False when the caller keeps the base weight as it is (overlay mode): an init that moves part of W
   * ({@link InitMethod.movesBaseWeight}) may then skip computing the residual. True (the default) otherwise.
   */
  readonly residualNeeded?: boolean;
}

/** What an init produces for one module. */
export interface InitResult {
  /** lora_A [r, in], float32 values (already rounded through the base dtype where PEFT does so). */
  readonly loraA: Matrix;
  /** lora_B [out, r]. */
  readonly loraB: Matrix;
  /**
   * For inits that move part of W into the adapter (PiSSA, OLoRA): the residual W_res = W − s·B₀A₀ in the
   * weight's own layout, float32 values before rounding to the base dtype (PEFT subtracts the unrounded factors).
   * Required unless the context says `residualNeeded: false`.
   */
  readonly residual?: Matrix;
}

/**
 * An init method, selected by `init_lora_weights`: how a fresh adapter's lora_A / lora_B start. Computed on
 * the host in float32/float64 (SVD, QR, seeded draws). Each built-in one is a folder under `src/inits/<name>/`
 * listed in `src/inits/index.ts`; others are added with {@link registerInitMethod} (see CONTRIBUTING.md,
 * "Adding an init method").
 */
export interface InitMethod {
  /** Unique name, e.g. `"pissa"`. */
  readonly name: string;
  /** One-line description for docs and error messages. */
  readonly description: string;
  /** Whether this method handles an `init_lora_weights` value. */
  handles(init: InitLoraWeights): boolean;
  /** `init_lora_weights` values that exercise it (the shared test table runs each of them). */
  readonly examples: readonly InitLoraWeights[];
  /** True when the init reads the base weight (SVD/QR-based inits). */
  readonly readsBaseWeight: boolean;
  /**
   * True when the init moves s·B₀A₀ out of the base weight (PEFT replaces W by W_res): such adapters are only
   * valid on the residual base, or with the frozen correction −s·B₀A₀ (overlay mode), or after conversion.
   */
  readonly movesBaseWeight: boolean;
  /** Computes the initial factors (and residual) of one module. */
  initialize(context: InitContext): InitResult;
}

let registered: InitMethod[] | undefined;

/** The registry, the built-ins (src/inits/index.ts) first in it on first use (so no module order matters). */
function methods(): InitMethod[] {
  registered ??= [...builtInInitMethods];
  return registered;
}

/**
 * Adds an init method defined outside this package. Methods are consulted newest first, so a later
 * registration can specialise an init an earlier one also handles.
 *
 * @throws AdapterInitError when the name is taken.
 */
export function registerInitMethod(method: InitMethod): void {
  if (methods().some((existing) => existing.name === method.name)) {
    throw new AdapterInitError(`an init method named "${method.name}" is already registered`);
  }
  methods().unshift(method);
}

/** Removes an init method by name (for tests and plugins); returns whether it was registered. */
export function unregisterInitMethod(name: string): boolean {
  const index = methods().findIndex((method) => method.name === name);
  if (index < 0) return false;
  methods().splice(index, 1);
  return true;
}

/** The registered init methods, newest first. */
export function listInitMethods(): readonly InitMethod[] {
  return [...methods()];
}

/** The method that handles `init`; throws {@link AdapterInitError} naming the registered ones when none does. */
export function initMethodFor(init: InitLoraWeights): InitMethod {
  const method = methods().find((candidate) => candidate.handles(init));
  if (method === undefined) {
    throw new AdapterInitError(
      `no init method handles init_lora_weights ${JSON.stringify(init)}; registered: ${methods()
        .map((entry) => entry.name)
        .join(", ")}`,
    );
  }
  return method;
}

/** Whether `init` moves s·B₀A₀ out of the base (PiSSA, OLoRA): false for unknown inits. */
export function initMovesBaseWeight(init: InitLoraWeights): boolean {
  return methods().find((candidate) => candidate.handles(init))?.movesBaseWeight ?? false;
}
