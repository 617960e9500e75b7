import { PeftjsError } from "@peftjs/io";
import type { LoraAdapter } from "../adapter.js";
import { type LoraConfig, loraConfigToJson } from "../config/lora-config.js";

/**
 * A hot-swap ({@link LoraModel.hotswapAdapter}) is refused: the configs differ where the loaded layers
 * cannot follow, the new weights target other modules or another rank, the adapter is merged, or it is a
 * PiSSA/OLoRA adapter whose correction depends on its init. The message names the offending value.
 */
export class HotswapError extends PeftjsError {
  constructor(message: string) {
    super("adapter_hotswap", message);
  }
}

/**
 * The `adapter_config.json` fields that must agree for a hot-swap, PEFT's `CONFIG_KEYS_TO_CHECK` for LoRA:
 * they shape the layers (the variant, dropout, the scaling rule) and are not swapped with the weights. `r`,
 * `lora_alpha` and `rank_pattern` may differ: the scaling s = α/r (α/√r with rsLoRA) is recomputed per module
 * from the new config.
 */
export const HOTSWAP_CONFIG_FIELDS = ["use_rslora", "lora_dropout", "alpha_pattern", "use_dora"] as const;

/** A JSON value with object keys sorted, so that `{a, b}` and `{b, a}` compare equal (as Python dicts do). */
function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "undefined";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonical(entry)}`).join(",")}}`;
}

/**
 * PEFT's `check_hotswap_configs_compatible`: the fields of {@link HOTSWAP_CONFIG_FIELDS} must be equal.
 *
 * @throws HotswapError naming the first field that differs and both values.
 */
export function assertHotswapConfigsCompatible(name: string, current: LoraConfig, next: LoraConfig): void {
  const before = loraConfigToJson(current);
  const after = loraConfigToJson(next);
  for (const field of HOTSWAP_CONFIG_FIELDS) {
    if (canonical(before[field]) !== canonical(after[field])) {
      throw new HotswapError(
        `cannot hot-swap adapter "${name}": the configs differ in ${field} (${canonical(before[field])} loaded, ${canonical(after[field])} new); delete the adapter and load the new one instead`,
      );
    }
  }
}

/**
 * The weights of `next` must fit the modules adapter `name` occupies: no module outside them (PEFT refuses
 * "unexpected keys"; modules the new file lacks are zeroed, as PEFT does) and, per module, the same
 * parameters with the same shapes (same rank).
 *
 * @throws HotswapError naming the module and what differs.
 */
export function assertHotswapWeightsFit(
  name: string,
  modules: readonly string[],
  next: LoraAdapter,
  parameterShapes: (module: string) => ReadonlyMap<string, readonly number[]>,
): void {
  const occupied = new Set(modules);
  const outside = [...next.modules.keys()].filter((module) => !occupied.has(module));
  if (outside.length > 0) {
    throw new HotswapError(
      `cannot hot-swap adapter "${name}": the new weights target ${JSON.stringify(outside)}, which the loaded adapter does not (it targets ${modules.length} modules)`,
    );
  }
  for (const [module, factors] of next.modules) {
    const expected = parameterShapes(module);
    const given = new Map<string, readonly number[]>([
      ["lora_A", [factors.loraA.rows, factors.loraA.columns]],
      ["lora_B", [factors.loraB.rows, factors.loraB.columns]],
      ...[...(factors.extras ?? [])].map(([parameter, value]) => [parameter, value.shape] as const),
    ]);
    for (const [parameter, shape] of expected) {
      const actual = given.get(parameter);
      if (actual === undefined || actual.join() !== shape.join()) {
        throw new HotswapError(
          `cannot hot-swap adapter "${name}": "${module}" ${parameter} is ${actual === undefined ? "missing" : `[${actual.join(", ")}]`} in the new weights, the loaded one is [${shape.join(", ")}] (hot-swapping keeps the rank; delete the adapter and load the new one instead)`,
        );
      }
    }
    const extra = [...given.keys()].filter((parameter) => !expected.has(parameter));
    if (extra.length > 0) {
      throw new HotswapError(
        `cannot hot-swap adapter "${name}": "${module}" has parameters ${JSON.stringify(extra)} in the new weights that the loaded adapter does not have`,
      );
    }
  }
}
