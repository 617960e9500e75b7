import { AdamW, train } from "@peftjs/models";
import { createGenerator } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  decodePeftAdapter,
  encodePeftAdapter,
  type InitLoraWeights,
  type LoraAdapter,
  LoraModel,
  listInitMethods,
  listLoraVariants,
  matrix,
  type PissaMode,
  parseLoraConfig,
  peftKey,
  registerLoraVariant,
} from "../src/index.js";
import { logitsOf, maxAbs, storiesModel } from "./model-helpers.js";
import { gainVariant } from "./support/gain-variant.js";

/**
 * The shared table every LoRA variant and every init method runs through (PEFT's test_custom_models style, the
 * way the tensor conformance table runs every backend): rows are built from the registries, so a new folder
 * under src/variants/ or src/inits/ is tested here without editing this file. The test-only gain variant
 * (test/support/) joins to show that a variant with an extra parameter passes the same checks.
 */
registerLoraVariant(gainVariant);

const rows = listLoraVariants().flatMap((variant) =>
  listInitMethods().flatMap((method) =>
    method.examples.flatMap((init) =>
      (method.movesBaseWeight ? (["overlay", "residual"] as PissaMode[]) : (["overlay"] as PissaMode[])).map(
        (mode) => ({ variant, init, mode, startsAtBase: init !== false }),
      ),
    ),
  ),
);

const inputIds = [
  [1, 403, 407, 261, 378, 432, 383, 286],
  [1, 359, 413, 286, 261, 370, 432, 352],
];

/** A "trained" copy of the adapter: every parameter moved by noise of 10 % of its RMS (or 0.05 where it is zero). */
function perturb(adapter: LoraAdapter, seed: number): LoraAdapter {
  const generator = createGenerator(seed);
  const shift = (values: Float32Array) => {
    const rms = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0) / values.length) || 0.5;
    const noise = generator.normalValues(values.length, 0, 0.1 * rms);
    return values.map((value, index) => value + (noise[index] as number));
  };
  const modules = new Map(
    [...adapter.modules].map(([name, { loraA, loraB, extras }]) => [
      name,
      {
        loraA: matrix(loraA.rows, loraA.columns, shift(loraA.data)),
        loraB: matrix(loraB.rows, loraB.columns, shift(loraB.data)),
        ...(extras && {
          extras: new Map(
            [...extras].map(([key, value]) => [key, { shape: value.shape, data: shift(value.data) }]),
          ),
        }),
      },
    ]),
  );
  return { ...adapter, modules };
}

describe.each(rows)(
  "table: $variant.name variant, init $init, $mode mode",
  ({ variant, init, mode, startsAtBase }) => {
    const config = parseLoraConfig({
      r: 4,
      lora_alpha: 8,
      init_lora_weights: init as InitLoraWeights,
      target_modules: ["q_proj", "v_proj", "down_proj"],
      ...(variant.configField && { [variant.configField]: true }),
    });

    async function trainedModel() {
      const model = await storiesModel();
      model.weights.setPolicy("silent");
      const original = logitsOf(model, inputIds);
      const lora = LoraModel.create(model);
      lora.addAdapter("fresh", config, { mode, seed: 3 });
      const initial = logitsOf(model, inputIds);
      const trained = perturb(lora.getAdapter("fresh"), 9);
      lora.deleteAdapter("fresh");
      if (mode === "residual") {
        // the fresh adapter rewrote the base; start the trained one from a new model with its own residual
        const again = await storiesModel();
        again.weights.setPolicy("silent");
        const second = LoraModel.create(again);
        second.loadAdapter("trained", trained, { mode, seed: 3 });
        return { model: again, lora: second, original, initial, trained };
      }
      lora.loadAdapter("trained", trained, { mode, seed: 3 });
      return { model, lora, original, initial, trained };
    }

    it("selects the variant and starts at the base model's output (up to float32 round-off for SVD/QR inits)", async () => {
      const { lora, original, initial, trained } = await trainedModel();
      expect(lora.model.getModule([...trained.modules.keys()][0]!)).toHaveProperty("base_layer");
      // init false starts with non-zero B by design; the others start exactly (LoRA) or within round-off (PiSSA/OLoRA)
      if (startsAtBase) expect(maxAbs(initial, original)).toBeLessThan(1e-3);
      else expect(maxAbs(initial, original)).toBeGreaterThan(1e-4);
      for (const factors of trained.modules.values()) {
        expect([...(factors.extras?.keys() ?? [])]).toEqual([...variant.extraParameters]);
      }
    });

    it("round-trips through PEFT's file format to the same output", async () => {
      const { model, lora, trained } = await trainedModel();
      const expected = logitsOf(model, inputIds);
      const encoded = encodePeftAdapter(lora.getAdapter("trained"));
      const decoded = decodePeftAdapter(JSON.parse(encoded.configText), encoded.weights);
      for (const [name, factors] of trained.modules) {
        expect(decoded.modules.get(name)?.loraA.data).toEqual(factors.loraA.data);
        for (const [parameter, value] of factors.extras ?? []) {
          expect(decoded.modules.get(name)?.extras?.get(parameter)).toEqual(value);
        }
      }
      const freshModel = await storiesModel();
      freshModel.weights.setPolicy("silent");
      LoraModel.create(freshModel).loadAdapter("reloaded", decoded, { mode });
      expect(logitsOf(freshModel, inputIds)).toEqual(expected);
    });

    it("merge then unmerge restores the unmerged output bit for bit; merged ≈ unmerged", async () => {
      const { model, lora } = await trainedModel();
      const unmerged = logitsOf(model, inputIds);
      lora.merge();
      // the variant's merged weight in one float32 matrix vs the two-path sum: float32 round-off only
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

    it("trains exactly the variant's parameters under PEFT's keys; the base stays as it is", async () => {
      const { model, lora, trained } = await trainedModel();
      const parameterNames = ["lora_A", "lora_B", ...variant.extraParameters];
      const keys = [...trained.modules.keys()].flatMap((name) =>
        parameterNames.map((parameter) => peftKey(name, parameter)),
      );
      expect([...lora.trainableParameters().keys()].sort()).toEqual(keys.sort());
      const fingerprint = lora.store.modelFingerprint();
      const before = lora.getAdapter("trained");
      const optimizer = new AdamW({ learningRate: 1e-3 });
      await train({ model, trainable: lora.trainable, optimizer, batches: [{ inputIds }], steps: 1 });
      optimizer.dispose();
      const after = lora.getAdapter("trained");
      for (const [name, factors] of after.modules) {
        expect(factors.loraA.data).not.toEqual(before.modules.get(name)!.loraA.data);
        for (const parameter of variant.extraParameters) {
          expect(factors.extras?.get(parameter)?.data, parameter).not.toEqual(
            before.modules.get(name)!.extras?.get(parameter)?.data,
          );
        }
      }
      expect(lora.store.modelFingerprint()).toBe(fingerprint);
    });
  },
);

it("the table covers every registered variant and init method", () => {
  expect(new Set(rows.map((row) => row.variant.name))).toEqual(new Set(["plain", "dora", "test-gain"]));
  expect(new Set(rows.map((row) => row.init))).toEqual(
    new Set([true, false, "gaussian", "pissa", "pissa_niter_2", "olora"]),
  );
});
