import { createGenerator } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  decodePeftAdapter,
  encodePeftAdapter,
  type InitLoraWeights,
  type LoraAdapter,
  LoraModel,
  matrix,
  type PissaMode,
  parseLoraConfig,
  peftKey,
} from "../src/index.js";
import { logitsOf, maxAbs, storiesModel } from "./model-helpers.js";

/**
 * The shared table every init / variant runs through (PEFT's test_custom_models style). Add a row for a new
 * variant: its init_lora_weights value and the modes it supports.
 */
const rows: { init: InitLoraWeights; modes: PissaMode[] }[] = [
  { init: true, modes: ["overlay"] },
  { init: false, modes: ["overlay"] },
  { init: "gaussian", modes: ["overlay"] },
  { init: "pissa", modes: ["overlay", "residual"] },
  { init: "pissa_niter_2", modes: ["overlay", "residual"] },
  { init: "olora", modes: ["overlay", "residual"] },
];

const inputIds = [
  [1, 403, 407, 261, 378, 432, 383, 286],
  [1, 359, 413, 286, 261, 370, 432, 352],
];

/** A "trained" copy of the adapter: every factor moved by noise of 10 % of its RMS (or 0.05 where it is zero). */
function perturb(adapter: LoraAdapter, seed: number): LoraAdapter {
  const generator = createGenerator(seed);
  const shift = (values: Float32Array) => {
    const rms = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0) / values.length) || 0.5;
    const noise = generator.normalValues(values.length, 0, 0.1 * rms);
    return values.map((value, index) => value + (noise[index] as number));
  };
  const modules = new Map(
    [...adapter.modules].map(([name, { loraA, loraB }]) => [
      name,
      {
        loraA: matrix(loraA.rows, loraA.columns, shift(loraA.data)),
        loraB: matrix(loraB.rows, loraB.columns, shift(loraB.data)),
      },
    ]),
  );
  return { ...adapter, modules };
}

describe.each(rows.flatMap(({ init, modes }) => modes.map((mode) => ({ init, mode }))))(
  "variant table: init $init, $mode mode",
  ({ init, mode }) => {
    const config = parseLoraConfig({
      r: 4,
      lora_alpha: 8,
      init_lora_weights: init,
      target_modules: ["q_proj", "v_proj", "down_proj"],
    });

    async function trainedModel() {
      const model = await storiesModel();
      const original = logitsOf(model, inputIds);
      const lora = LoraModel.create(model);
      lora.store.setPolicy("silent");
      lora.addAdapter("fresh", config, { mode, seed: 3 });
      const initial = logitsOf(model, inputIds);
      const trained = perturb(lora.getAdapter("fresh"), 9);
      lora.deleteAdapter("fresh");
      if (mode === "residual") {
        // the fresh adapter rewrote the base; start the trained one from a new model with its own residual
        const again = await storiesModel();
        const second = LoraModel.create(again);
        second.store.setPolicy("silent");
        second.loadAdapter("trained", trained, { mode, seed: 3 });
        return { model: again, lora: second, original, initial, trained };
      }
      lora.loadAdapter("trained", trained, { mode, seed: 3 });
      return { model, lora, original, initial, trained };
    }

    it("starts at the base model's output (up to float32 round-off for SVD/QR inits)", async () => {
      const { original, initial } = await trainedModel();
      // false starts with non-zero B by design; the others start exactly (LoRA) or within round-off (PiSSA/OLoRA)
      if (init === false) expect(maxAbs(initial, original)).toBeGreaterThan(1e-4);
      else expect(maxAbs(initial, original)).toBeLessThan(1e-3);
    });

    it("round-trips through PEFT's file format to the same output", async () => {
      const { model, lora, trained } = await trainedModel();
      const expected = logitsOf(model, inputIds);
      const saved = lora.getAdapter("trained");
      const encoded = encodePeftAdapter(saved);
      const decoded = decodePeftAdapter(JSON.parse(encoded.configText), encoded.weights);
      for (const [name, factors] of trained.modules)
        expect(decoded.modules.get(name)?.loraA.data).toEqual(factors.loraA.data);
      const freshModel = await storiesModel();
      const fresh = LoraModel.create(freshModel);
      fresh.store.setPolicy("silent");
      fresh.loadAdapter("reloaded", decoded, { mode });
      expect(logitsOf(freshModel, inputIds)).toEqual(expected);
    });

    it("merge then unmerge restores the unmerged output bit for bit; merged ≈ unmerged", async () => {
      const { model, lora } = await trainedModel();
      const unmerged = logitsOf(model, inputIds);
      lora.merge();
      // W + sBA in one float32 matrix vs the two-path sum: float32 round-off only
      expect(maxAbs(logitsOf(model, inputIds), unmerged)).toBeLessThan(1e-4);
      lora.unmerge();
      expect(logitsOf(model, inputIds)).toEqual(unmerged);
    });

    it("disabling the adapters returns the original model (overlay) or PEFT's residual model (residual)", async () => {
      const { model, lora, original } = await trainedModel();
      const disabled = lora.withAdaptersDisabled(() => logitsOf(model, inputIds));
      if (mode === "overlay") expect(disabled).toEqual(original);
      else expect(maxAbs(disabled, original)).toBeGreaterThan(1e-3);
      expect(logitsOf(model, inputIds)).not.toEqual(disabled);
    });

    it("only the adapter's lora_A / lora_B are trainable", async () => {
      const { lora, trained } = await trainedModel();
      const keys = [...trained.modules.keys()].flatMap((name) => [
        peftKey(name, "lora_A"),
        peftKey(name, "lora_B"),
      ]);
      expect([...lora.trainableParameters().keys()].sort()).toEqual(keys.sort());
    });
  },
);
