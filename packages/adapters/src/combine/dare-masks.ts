import { createGenerator } from "@peftjs/tensor";

/** One tensor that DARE prunes: which module, which tensor of which adapter, how many elements. */
export interface DareMaskRequest {
  /** Module name, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  /** `lora_A` / `lora_B` for the factor-level types, `delta` (sᵢBᵢAᵢ) for `dare_*_svd`. */
  readonly tensor: "lora_A" | "lora_B" | "delta";
  /** Position of the adapter in the list given to the combination. */
  readonly adapterIndex: number;
  /** Number of elements (row-major). */
  readonly length: number;
  /** Probability of keeping an element. */
  readonly density: number;
}

/**
 * Gives the keep-mask (1 = kept, 0 = dropped) of each tensor DARE prunes. Called once per tensor in a fixed
 * order: modules in order of first appearance across the adapters; per module the lora_A of each adapter that
 * has it (adapter order), then their lora_B (PEFT's order), or their deltas for `dare_*_svd`.
 */
export type DareMaskSource = (request: DareMaskRequest) => Uint8Array;

/**
 * Bernoulli(density) masks from the seeded Philox4x32-10 stream of `@peftjs/tensor`: element i is kept when its
 * uniform sample u ∈ [0, 1) (24 random bits) is below the density, as `torch.bernoulli(full_like(x, density))`
 * keeps with probability density. Each mask consumes whole Philox blocks, so a given seed always gives the
 * same masks for the same adapters.
 */
export function philoxDareMasks(seed: number): DareMaskSource {
  const generator = createGenerator(seed);
  return ({ length, density }) => {
    const samples = generator.uniformValues(length);
    const mask = new Uint8Array(length);
    for (let index = 0; index < length; index++) mask[index] = (samples[index] as number) < density ? 1 : 0;
    return mask;
  };
}
