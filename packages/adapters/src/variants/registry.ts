import type { Tensor } from "@peftjs/tensor";
import type { LoraConfig } from "../config/lora-config.js";
import { UnsupportedLoraOptionError } from "../errors.js";
import { builtInLoraVariants } from "./index.js";

/** What a variant sees of one adapter in one layer. */
export interface VariantContext {
  /**
   * The adapter's trainable parameters in this layer by PEFT name: `lora_A` `[r, in]`, `lora_B` `[out, r]`,
   * and the variant's {@link LoraVariant.extraParameters}.
   */
  readonly parameters: ReadonlyMap<string, Tensor>;
  /** Scaling s (α/r or α/√r, patterns applied). */
  readonly scaling: number;
  /** The adapter's dropout on an input (identity outside training). */
  dropout(input: Tensor): Tensor;
  /**
   * The base weight `[out, in]` this adapter stands on: W, or W − s·B₀A₀ for a PiSSA/OLoRA adapter in
   * overlay mode (computed when asked, on the device).
   */
  baseWeight(): Tensor;
  /**
   * The bias `[out]` the layer's output carries, if any: the base layer's, or the active adapter's own one under
   * PEFT's `bias: "lora_only" | "all"` (LoRA's factors never change it).
   */
  readonly baseBias: Tensor | undefined;
}

/**
 * A LoRA variant, PEFT's `LoraVariant`: how an adapter's parameters act in a layer. Plain LoRA is the
 * default; a variant such as DoRA adds parameters and changes the forward and the merge. Each built-in one is
 * a folder under `src/variants/<name>/` listed in `src/variants/index.ts`; others are added with
 * {@link registerLoraVariant} (see CONTRIBUTING.md).
 *
 * PEFT's variants also implement `unmerge`, because PEFT merges into the base weight in place; peftjs keeps
 * W and recomputes the merged weight from it, so unmerging is exact and needs no per-variant code.
 */
export interface LoraVariant {
  /** Unique name, e.g. `"plain"`. */
  readonly name: string;
  /** One line for docs and errors. */
  readonly description: string;
  /**
   * The `adapter_config.json` field that selects this variant when set (e.g. `"use_dora"`); registering the
   * variant makes the config parser accept the field. Undefined for the default variant.
   */
  readonly configField?: string;
  /** PEFT names of the parameters the variant adds per module (saved as `<module>.<name>.weight`). */
  readonly extraParameters: readonly string[];
  /**
   * The shape each extra parameter must have in a layer (e.g. DoRA's magnitude `[out]`); a file or caller giving
   * another shape is refused with `AdapterShapeError`. Without it any shape is accepted.
   */
  extraParameterShape?(
    parameter: string,
    layer: { readonly inFeatures: number; readonly outFeatures: number; readonly rank: number },
  ): readonly number[];
  /** Initial values of the extra parameters for a fresh adapter, from its factors and base weight. */
  initializeExtras?(context: VariantContext): Map<string, Tensor>;
  /** PEFT's `forward(module, adapter, x, result)`: the layer's output with this adapter applied to `result`. */
  forward(context: VariantContext, input: Tensor, result: Tensor): Tensor;
  /** PEFT's `merge_safe`: the weight with this adapter merged into `weight` (W or an earlier merge). */
  merge(context: VariantContext, weight: Tensor): Tensor;
}

let registered: Map<string, LoraVariant> | undefined;
let defaultVariant: LoraVariant | undefined;

/** The registry, filled with the built-ins (src/variants/index.ts) on first use (so no module order matters). */
function variants(): Map<string, LoraVariant> {
  if (registered === undefined) {
    registered = new Map();
    for (const variant of builtInLoraVariants) add(registered, variant);
  }
  return registered;
}

/**
 * Adds a variant defined outside this package. The one without a `configField` is the default (plain LoRA);
 * the others are selected by their field.
 *
 * @throws UnsupportedLoraOptionError when the name or config field is taken, or a second default is registered.
 */
export function registerLoraVariant(variant: LoraVariant): void {
  add(variants(), variant);
}

function add(into: Map<string, LoraVariant>, variant: LoraVariant): void {
  const clash = [...into.values()].find(
    (existing) =>
      existing.name === variant.name ||
      (variant.configField !== undefined && existing.configField === variant.configField),
  );
  if (clash !== undefined || (variant.configField === undefined && defaultVariant !== undefined)) {
    throw new UnsupportedLoraOptionError(
      variant.configField ?? "variant",
      `a LoRA variant named "${variant.name}"${variant.configField ? ` or selected by "${variant.configField}"` : " (the default)"} is already registered`,
    );
  }
  into.set(variant.name, variant);
  if (variant.configField === undefined) defaultVariant = variant;
}

/** Removes a variant by name (for tests and plugins); returns whether it was registered. */
export function unregisterLoraVariant(name: string): boolean {
  const variant = variants().get(name);
  if (variant === undefined) return false;
  variants().delete(name);
  if (variant === defaultVariant) defaultVariant = undefined;
  return true;
}

/** The registered variants, in registration order. */
export function listLoraVariants(): readonly LoraVariant[] {
  return [...variants().values()];
}

/** The config fields registered variants select themselves by (accepted by the config parser). */
export function variantConfigFields(): string[] {
  return listLoraVariants().flatMap((variant) =>
    variant.configField === undefined ? [] : [variant.configField],
  );
}

/** Every adapter parameter name a file may hold: `lora_A`, `lora_B` and the variants' extra ones. */
export function knownParameterNames(): string[] {
  return ["lora_A", "lora_B", ...listLoraVariants().flatMap((variant) => variant.extraParameters)];
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false;
}

/**
 * The variant a config selects: the one whose `configField` is set, else the default.
 *
 * @throws UnsupportedLoraOptionError when two variants are selected at once.
 */
export function loraVariantFor(config: LoraConfig): LoraVariant {
  const fields = config.otherFields;
  const selected = listLoraVariants().filter(
    (variant) => variant.configField !== undefined && isSet(fields[variant.configField]),
  );
  if (selected.length > 1) {
    throw new UnsupportedLoraOptionError(
      selected[1]!.configField!,
      `the config selects several LoRA variants at once: ${selected.map((variant) => variant.configField).join(", ")}`,
    );
  }
  const variant = selected[0] ?? defaultVariant;
  if (variant === undefined)
    throw new UnsupportedLoraOptionError("variant", "no default LoRA variant is registered");
  return variant;
}
