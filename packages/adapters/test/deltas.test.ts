import { describe, expect, it } from "vitest";
import { adapterDeltas, addScaled, relativeError } from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, mutatingCases, readMatrices, trainingCases, weightKey } from "./helpers.js";

describe.each(trainingCases)("%s", (name) => {
  it("s·B·A of adapter_trained reproduces PEFT's deltas.safetensors", async () => {
    const adapter = await loadPeftAdapter(fixturePath(`peft/${name}/adapter_trained`));
    const expected = await readMatrices(`peft/${name}/deltas.safetensors`);
    const deltas = adapterDeltas(adapter);
    expect([...deltas.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [module, delta] of deltas) {
      // both are fp32 roundings of float64 products: a few ulps apart
      expect(relativeError(delta, expected.get(module) as never)).toBeLessThan(1e-6);
    }
  });

  it("merging adapter_trained into its base reproduces PEFT's merge_and_unload()", async () => {
    const adapter = await loadPeftAdapter(fixturePath(`peft/${name}/adapter_trained`));
    const isMutating = (mutatingCases as readonly string[]).includes(name);
    const base = await readMatrices(
      isMutating ? `peft/${name}/residual/targets.safetensors` : "stories260k/model.safetensors",
    );
    const merged = await readMatrices(`peft/${name}/merged/targets.safetensors`);
    const bf16 = name === "pissa_bf16";
    for (const [module, delta] of adapterDeltas(adapter)) {
      const ours = addScaled(base.get(weightKey(module)) as never, delta);
      // fp32: PEFT adds the fp32 delta to W in fp32 (≤ 1 ulp apart). bf16: PEFT rounds W + Δ to bf16 (2^-8 relative)
      expect(relativeError(ours, merged.get(weightKey(module)) as never)).toBeLessThan(bf16 ? 4e-3 : 1e-6);
    }
  });
});
