import { type RawTensor, toFloat32 } from "@peftjs/io";
import { AdamW, type CausalLM, causalLanguageModelLoss, train } from "@peftjs/models";
import { Linear } from "@peftjs/nn";
import {
  createGenerator,
  getBackend,
  probeBackends,
  setBackend,
  tensor,
  valueAndGradients,
} from "@peftjs/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AdapterCombinationError,
  AdapterConversionError,
  AdapterLoadError,
  adapterDeltas,
  combineAdapters,
  convertToLora,
  createLoraConfig,
  decodePeftAdapter,
  doraVariant,
  encodePeftAdapter,
  LORA_MAGNITUDE_VECTOR,
  type LoraAdapter,
  LoraLinear,
  LoraModel,
  type Matrix,
  moduleDelta,
  peftKey,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, readCase, readMatrices, readRaw } from "./helpers.js";
import { logitsOf, maxAbs, referenceLogits, relativeFrobenius, storiesModel } from "./model-helpers.js";

// DoRA against PEFT 0.21 (fixtures peft/dora: r 8, α 16, q,v; peft/dora_all_rslora: rsLoRA r 4, α 8, s = 4, all
// seven projections; see test/fixtures/README.md). Tolerances are the fixture README's suggestions for an fp32
// implementation ("losses 1e-4 abs, logits 1e-3 abs, deltas 1e-3 relative Frobenius after training, magnitudes
// 1e-4 abs"), tightened where PEFT's own inputs are loaded (no training in between); each bound quotes what was
// measured here.

interface TrainingRecord {
  input_ids: number[][];
  losses: number[];
  loss_after_training: number;
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
}

const cases = ["dora", "dora_all_rslora"] as const;
const backends = ["js", "wasm"] as const;

let initialBackend: string;
let wasmAvailable = false;
beforeAll(async () => {
  initialBackend = getBackend();
  wasmAvailable = (await probeBackends()).some(
    (info) => info.name === "wasm" && info.availability?.available === true,
  );
});
afterAll(() => setBackend(initialBackend));

/** ‖actual − expected‖_F / ‖expected‖_F in float64. */
/** dora.safetensors: `<module>.magnitude_init|magnitude_trained|weight_norm_init|weight_norm_trained`. */
async function doraVectors(caseName: string): Promise<Map<string, Float32Array>> {
  const raw = await readRaw(`peft/${caseName}/dora.safetensors`);
  return new Map([...raw].map(([key, value]) => [key, toFloat32(value)]));
}

/** The magnitudes of an adapter, by module. */
function magnitudes(adapter: LoraAdapter): Map<string, Float32Array> {
  return new Map(
    [...adapter.modules].map(([module, factors]) => [
      module,
      factors.extras!.get(LORA_MAGNITUDE_VECTOR)!.data,
    ]),
  );
}

/** The float64 row norms of W + s·B·A, as PEFT's `get_weight_norm`. */
function rowNormsOf(weight: Float32Array, delta: Matrix): Float64Array {
  const norms = new Float64Array(delta.rows);
  for (let row = 0; row < delta.rows; row++) {
    let sum = 0;
    for (let column = 0; column < delta.columns; column++) {
      const index = row * delta.columns + column;
      sum += ((weight[index] as number) + (delta.data[index] as number)) ** 2;
    }
    norms[row] = Math.sqrt(sum);
  }
  return norms;
}

function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let index = 0; index < expected.length; index++) {
    worst = Math.max(worst, Math.abs((actual[index] as number) - (expected[index] as number)));
  }
  return worst;
}

describe.each(backends)("DoRA on the %s backend", (backend) => {
  beforeAll(async () => {
    if (backend === "wasm" && !wasmAvailable) return;
    await setBackend(backend);
  });

  describe.each(cases)("%s against PEFT", (caseName) => {
    let training: TrainingRecord;
    beforeAll(async () => {
      training = (await readCase(caseName)).training as TrainingRecord;
    });

    it("a fresh DoRA adapter starts at ‖W‖ per output row (PEFT's magnitude_init) and changes nothing", async () => {
      if (backend === "wasm" && !wasmAvailable) return;
      const json = await readCase(caseName);
      const kwargs = json.lora_config_kwargs as Record<string, unknown>;
      const model = await storiesModel();
      const { inputIds, logits } = await referenceLogits(caseName);
      const lora = LoraModel.create(model);
      lora.addAdapter(
        "fresh",
        createLoraConfig({
          r: kwargs.r as number,
          lora_alpha: kwargs.lora_alpha as number,
          use_rslora: kwargs.use_rslora === true,
          target_modules: kwargs.target_modules as string[],
          otherFields: { use_dora: true },
        }),
      );
      const vectors = await doraVectors(caseName);
      const fresh = magnitudes(lora.getAdapter("fresh"));
      expect([...fresh.keys()].sort()).toEqual(Object.keys(json.scalings as object).sort());
      for (const [module, magnitude] of fresh) {
        // float32 sums of squares in another order than torch's: measured ≤ 4.8e-7 (js, wasm; |m| ≈ 3–6)
        expect(maxAbsDifference(magnitude, vectors.get(`${module}.magnitude_init`)!), module).toBeLessThan(
          1e-5,
        );
      }
      // m/n is exactly 1 (the same norm of the same W), so the output is the base's bit for bit, as in PEFT
      expect(logitsOf(model, inputIds)).toEqual(logitsOf(await storiesModel(), inputIds));
      expect(maxAbs(logitsOf(model, inputIds), logits.get("init")!)).toBeLessThan(1e-4);
    });

    it("reproduces PEFT's step-0 gradients under its file keys (magnitude without .weight; norm detached)", async () => {
      if (backend === "wasm" && !wasmAvailable) return;
      const model = await storiesModel();
      const lora = LoraModel.create(model);
      lora.loadAdapter("default", await loadPeftAdapter(fixturePath(`peft/${caseName}/adapter_init`)));
      const expected = await readRaw(`peft/${caseName}/grads_step0.safetensors`);
      const { value, gradients } = valueAndGradients(
        () => causalLanguageModelLoss(model.forward(training.input_ids), training.input_ids),
        lora.trainableParameters(),
      );
      expect(Math.abs(value.toFloat32Array()[0]! - training.losses[0]!)).toBeLessThan(1e-5);
      value.dispose();
      expect([...gradients.keys()].sort()).toEqual([...expected.keys()].sort());
      expect([...expected.keys()].some((key) => key.endsWith(".lora_magnitude_vector"))).toBe(true);
      for (const [key, raw] of expected) {
        const reference = toFloat32(raw);
        const actual = gradients.get(key)!.toFloat32Array();
        const largest = reference.reduce((max, entry) => Math.max(max, Math.abs(entry)), 0);
        // fp32 vs fp32 in another summation order: measured ≤ 6.7e-6 (js) / 7.1e-6 (wasm) of each tensor's
        // largest entry. Back-propagating through the norm would move lora_B by 26–31 % (case.json's
        // dora_no_detach_experiment), a wrong rule by order 1; 3e-5 is the LoRA training test's bound.
        expect(maxAbsDifference(actual, reference), key).toBeLessThanOrEqual(3e-5 * largest);
      }
      for (const gradient of gradients.values()) gradient.dispose();
    });

    it("PEFT's trained adapter gives its trained and merged logits and merged weights; unmerge is bit-exact", async () => {
      if (backend === "wasm" && !wasmAvailable) return;
      const { inputIds, logits } = await referenceLogits(caseName);
      const model = await storiesModel(undefined, { weightStore: { policy: "silent" } });
      const base = logitsOf(model, inputIds);
      const lora = LoraModel.create(model);
      const trained = await loadPeftAdapter(fixturePath(`peft/${caseName}/adapter_trained`));
      lora.loadAdapter("default", trained);
      const unmerged = logitsOf(model, inputIds);
      // PEFT's reload is exact; ours sums in another order: measured ≤ 2.6e-5 (|logits| ≤ 20; our base
      // forward alone differs from PEFT's by 1.4e-5)
      expect(maxAbs(unmerged, logits.get("trained")!)).toBeLessThan(1e-4);
      expect(lora.withAdaptersDisabled(() => logitsOf(model, inputIds))).toEqual(base);
      expect(maxAbs(base, logits.get("disabled")!)).toBeLessThan(1e-4);

      lora.merge();
      // merged vs unmerged: PEFT measured 2.5e-5; here ≤ 2.3e-5 against PEFT's merged logits
      expect(maxAbs(logitsOf(model, inputIds), logits.get("merged")!)).toBeLessThan(1e-4);
      expect(maxAbs(logitsOf(model, inputIds), unmerged)).toBeLessThan(1e-4);
      lora.unmerge();
      expect(logitsOf(model, inputIds)).toEqual(unmerged);

      // the weight norm n of the trained adapter, as PEFT stored it (float64 reference of W + s·B·A):
      // measured ≤ 4.1e-7
      const vectors = await doraVectors(caseName);
      const weights = await readRaw("stories260k/model.safetensors");
      for (const module of trained.modules.keys()) {
        const norms = rowNormsOf(toFloat32(weights.get(`${module}.weight`)!), moduleDelta(trained, module));
        expect(maxAbsDifference(norms, vectors.get(`${module}.weight_norm_trained`)!), module).toBeLessThan(
          1e-5,
        );
      }

      const merged = lora.mergeAndUnload();
      const reference = await readMatrices(`peft/${caseName}/merged/targets.safetensors`);
      expect([...merged.keys()].sort()).toEqual([...reference.keys()].map((key) => key.slice(0, -7)).sort());
      for (const [module, weight] of merged) {
        // (m/n)·(W + s·B·A) in float32 on the device vs PEFT's float32: measured ≤ 2.4e-7 (|W'| ≤ 1)
        const expected = reference.get(`${module}.weight`)!.data;
        expect(maxAbsDifference(weight.toFloat32Array(), expected), module).toBeLessThan(1e-5);
      }
      expect(maxAbs(logitsOf(model, inputIds), logits.get("merged")!)).toBeLessThan(1e-4);
    });

    it("round-trips through PEFT's key layout: the same keys, shapes and values as PEFT's file", async () => {
      if (backend === "wasm" && !wasmAvailable) return;
      const folder = fixturePath(`peft/${caseName}/adapter_trained`);
      const peftTensors = await readRaw(`peft/${caseName}/adapter_trained/adapter_model.safetensors`);
      const model = await storiesModel();
      const lora = LoraModel.create(model);
      lora.loadAdapter("default", await loadPeftAdapter(folder));
      const encoded = encodePeftAdapter(lora.getAdapter("default"));
      const config = JSON.parse(encoded.configText) as Record<string, unknown>;
      expect(config.use_dora).toBe(true);
      const decoded = decodePeftAdapter(config, encoded.weights);
      const { tensors: ours } = await import("@peftjs/io").then((io) => io.deserialize(encoded.weights));
      expect([...ours.keys()].sort()).toEqual([...peftTensors.keys()].sort());
      for (const [key, raw] of peftTensors) {
        const mine = ours.get(key) as RawTensor;
        expect(mine.shape, key).toEqual(raw.shape);
        expect(toFloat32(mine), key).toEqual(toFloat32(raw));
      }
      const fresh = await storiesModel();
      LoraModel.create(fresh).loadAdapter("reloaded", decoded);
      const ids = training.input_ids.slice(0, 2);
      expect(logitsOf(fresh, ids)).toEqual(logitsOf(model, ids));
    });

    // 20 steps of dora_all_rslora take ~10 s on js on a busy machine: trained on wasm (and js for dora)
    it.runIf(backend === "wasm" || caseName === "dora")(
      "matches PEFT's 20 AdamW losses, trained deltas, magnitudes and trained logits",
      async () => {
        if (backend === "wasm" && !wasmAvailable) return;
        const { inputIds, logits } = await referenceLogits(caseName);
        const model: CausalLM = await storiesModel();
        const lora = LoraModel.create(model);
        lora.loadAdapter("default", await loadPeftAdapter(fixturePath(`peft/${caseName}/adapter_init`)));
        const fingerprint = lora.store.modelFingerprint();
        const { lr, betas, eps, weight_decay } = training.optimizer;
        const optimizer = new AdamW({ learningRate: lr, betas, eps, weightDecay: weight_decay });
        const { losses } = await train({
          model,
          trainable: lora.trainable,
          optimizer,
          batches: [{ inputIds: training.input_ids }],
          steps: training.losses.length,
        });
        optimizer.dispose();
        // the README's 1e-4; measured ≤ 3.0e-7 (js) / 2.4e-7 (wasm)
        for (let step = 0; step < losses.length; step++) {
          expect(Math.abs(losses[step]! - training.losses[step]!), `step ${step}`).toBeLessThan(1e-4);
        }
        const ours = lora.getAdapter("default");
        const peft = await loadPeftAdapter(fixturePath(`peft/${caseName}/adapter_trained`));
        const expectedDeltas = adapterDeltas(peft);
        const deltas = adapterDeltas(ours);
        // Per module, trained s·B·A against PEFT's: the README's 1e-3 relative Frobenius for dora (measured ≤ 2.5e-5;
        // PEFT's fp64 replay 2.0e-5). dora_all_rslora has modules whose small updates Adam amplifies round-off
        // in (as olora in the LoRA training test): measured ≤ 3.0e-4 with one wasm build and 1.3e-3 with the
        // next (layers.1 q_proj), so 5e-3 per module and the README's 1e-3 over all modules together.
        let difference = 0;
        let norm = 0;
        for (const [module, reference] of expectedDeltas) {
          const error = relativeFrobenius(deltas.get(module)!.data, reference.data);
          expect(error, module).toBeLessThan(caseName === "dora" ? 1e-3 : 5e-3);
          const squared = reference.data.reduce((sum, value) => sum + value * value, 0);
          difference += error * error * squared;
          norm += squared;
        }
        // measured 9.0e-6 (dora, js), 3.3e-6 (dora, wasm), 1.9e-4 (dora_all_rslora, wasm)
        expect(Math.sqrt(difference / norm)).toBeLessThan(1e-3);
        if (caseName === "dora") {
          // deltas.safetensors (float64 s·B·A of PEFT's trained factors) agrees with the factors themselves
          for (const [module, reference] of await readMatrices(`peft/${caseName}/deltas.safetensors`)) {
            expect(maxAbsDifference(expectedDeltas.get(module)!.data, reference.data)).toBeLessThan(1e-6);
          }
        }
        const vectors = await doraVectors(caseName);
        for (const [module, magnitude] of magnitudes(ours)) {
          // the README's 1e-4 abs (PEFT's fp64 replay: 3.5e-6 / 5.6e-5); measured ≤ 5.6e-6 (dora),
          // 4.3e-5 (dora_all_rslora, wasm)
          expect(
            maxAbsDifference(magnitude, vectors.get(`${module}.magnitude_trained`)!),
            module,
          ).toBeLessThan(1e-4);
        }
        // the README's 1e-3 for trained logits: measured ≤ 9.6e-5 (dora); dora_all_rslora on wasm measured 3.8e-4
        // and 1.7e-3 with two wasm builds (all seven projections trained: the amplified round-off above reaches
        // the logits), so 5e-3 there, the README's bound for the olora case being 2e-2
        const logitBound = caseName === "dora" ? 1e-3 : 5e-3;
        expect(maxAbs(logitsOf(model, inputIds), logits.get("trained")!)).toBeLessThan(logitBound);
        expect(lora.store.modelFingerprint()).toBe(fingerprint);
        expect(lora.store.journal).toHaveLength(0);
      },
    );
  });
});

describe("DoRA's guarantees", () => {
  it("with dropout in training, PEFT's branch: base term W·dropout(x), no bias; without it, the layer's output", () => {
    // a 3×4 layer with a bias, r 2, s 1.5, p 0.5; the expected output in float64 from the same dropout mask
    const [out, inputs, rank, scaling, probability] = [3, 4, 2, 1.5, 0.5];
    const generator = createGenerator(7);
    const values = (count: number) => Float32Array.from(generator.normalValues(count, 0, 1));
    const [w, bias, a, b, m, x] = [
      values(out * inputs),
      values(out),
      values(rank * inputs),
      values(out * rank),
      values(out),
      values(2 * inputs),
    ] as Float32Array[];
    const layer = new LoraLinear(new Linear(tensor(w!, [out, inputs]), tensor(bias!, [out])));
    layer.setAdapter("dora", {
      variant: doraVariant,
      scaling,
      dropout: probability,
      parameters: new Map([
        ["lora_A", tensor(a!, [rank, inputs])],
        ["lora_B", tensor(b!, [out, rank])],
        [LORA_MAGNITUDE_VECTOR, tensor(m!, [out])],
      ]),
    });
    layer.setActive(["dora"]);
    const expected = (mask: Float32Array | undefined) => {
      const result = new Float64Array(2 * out);
      const delta = (i: number, j: number) =>
        scaling *
        Array.from({ length: rank }, (_, k) => b![i * rank + k]! * a![k * inputs + j]!).reduce(
          (p, q) => p + q,
        );
      for (let row = 0; row < 2; row++) {
        const xi = (j: number) => x![row * inputs + j]!;
        const dropped = (j: number) => (mask ? xi(j) * mask[row * inputs + j]! : xi(j));
        for (let i = 0; i < out; i++) {
          let norm = 0;
          let wx = 0;
          let wd = 0;
          let loraD = 0;
          for (let j = 0; j < inputs; j++) {
            norm += (w![i * inputs + j]! + delta(i, j)) ** 2;
            wx += w![i * inputs + j]! * xi(j);
            wd += w![i * inputs + j]! * dropped(j);
            loraD += delta(i, j) * dropped(j);
          }
          const factor = m![i]! / Math.sqrt(norm);
          result[row * out + i] = wx + bias![i]! + (factor - 1) * wd + factor * loraD;
        }
      }
      return result;
    };
    const input = tensor(x!, [2, inputs]);
    // eval: no dropout, PEFT reuses the layer's output (bias taken out of the rescaled part)
    expect(maxAbsDifference(layer.forward(input).toFloat32Array(), expected(undefined))).toBeLessThan(1e-5);
    layer.training = true;
    layer.generator = createGenerator(11);
    const uniform = createGenerator(11).uniformValues(2 * inputs, 0, 1);
    const mask = Float32Array.from(uniform, (value) => (value < 1 - probability ? 1 / (1 - probability) : 0));
    expect(mask.some((value) => value === 0)).toBe(true);
    expect(maxAbsDifference(layer.forward(input).toFloat32Array(), expected(mask))).toBeLessThan(1e-5);
  });

  it("refuses a PEFT DoRA adapter on a base that a PiSSA adapter rewrote, like a LoRA one", async () => {
    const { AdapterNeedsOriginalBaseError } = await import("@peftjs/state");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.store.setPolicy("silent");
    lora.loadAdapter("pissa", await loadPeftAdapter(fixturePath("peft/pissa/adapter_trained")), {
      mode: "residual",
    });
    const dora = await loadPeftAdapter(fixturePath("peft/dora/adapter_trained"));
    expect(() => lora.loadAdapter("dora", dora)).toThrow(AdapterNeedsOriginalBaseError);
  });

  it("refuses a peftjs DoRA adapter on another base by its fingerprint", async () => {
    const { AdapterBaseMismatchError } = await import("@peftjs/state");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.addAdapter(
      "dora",
      createLoraConfig({ r: 4, target_modules: ["q_proj", "v_proj"], otherFields: { use_dora: true } }),
    );
    const saved = encodePeftAdapter(lora.getAdapter("dora"));
    const decoded = decodePeftAdapter(JSON.parse(saved.configText), saved.weights);
    const residual = await storiesModel(await readRaw("peft/pissa/residual/targets.safetensors"));
    expect(() => LoraModel.create(residual).loadAdapter("dora", decoded)).toThrow(AdapterBaseMismatchError);
  });

  it("DoRA with PiSSA: overlay and residual (PEFT's) modes give the same output, and the base is W again when disabled", async () => {
    const config = createLoraConfig({
      r: 4,
      lora_alpha: 8,
      init_lora_weights: "pissa",
      target_modules: ["q_proj", "v_proj"],
      otherFields: { use_dora: true },
    });
    const ids = [[1, 403, 407, 261, 378, 432, 383]];
    const overlayModel = await storiesModel();
    const original = logitsOf(overlayModel, ids);
    const overlay = LoraModel.create(overlayModel);
    overlay.addAdapter("pissa", config);
    const residualModel = await storiesModel();
    residualModel.weights.setPolicy("silent");
    const residual = LoraModel.create(residualModel);
    residual.addAdapter("pissa", config, { mode: "residual" });
    // m = ‖W_res + s·B₀A₀‖ = ‖W‖ either way, so both start at the base (float32 round-off of moving s·B₀A₀)
    expect(maxAbs(logitsOf(overlayModel, ids), original)).toBeLessThan(1e-4);
    expect(maxAbs(logitsOf(residualModel, ids), original)).toBeLessThan(1e-4);
    expect(overlay.withAdaptersDisabled(() => logitsOf(overlayModel, ids))).toEqual(original);
    expect(overlay.store.journal).toHaveLength(0);
  });

  it("a file whose magnitudes do not fit, or a magnitude without use_dora, is refused with a typed error", async () => {
    const dora = await loadPeftAdapter(fixturePath("peft/dora/adapter_trained"));
    const plainConfig = { ...dora.config, otherFields: { ...dora.config.otherFields, use_dora: false } };
    const model = await storiesModel();
    expect(() => LoraModel.create(model).loadAdapter("x", { ...dora, config: plainConfig })).toThrow(
      /DoRA magnitude without use_dora/,
    );
    const [module, factors] = [...dora.modules][0]!;
    const shortened = new Map(dora.modules);
    shortened.set(module, {
      ...factors,
      extras: new Map([[LORA_MAGNITUDE_VECTOR, { shape: [3], data: new Float32Array(3) }]]),
    });
    expect(() => LoraModel.create(model).loadAdapter("x", { ...dora, modules: shortened })).toThrow(
      /lora_magnitude_vector \[3\]/,
    );
    const missing = new Map(dora.modules);
    missing.set(module, { loraA: factors.loraA, loraB: factors.loraB });
    expect(() => LoraModel.create(model).loadAdapter("y", { ...dora, modules: missing })).toThrow(
      AdapterLoadError,
    );
  });

  it("conversion and weighted combination refuse DoRA adapters instead of dropping the magnitudes", async () => {
    const dora = await loadPeftAdapter(fixturePath("peft/dora/adapter_trained"));
    expect(() => combineAdapters([dora, dora], [0.5, 0.5], { type: "cat" })).toThrow(AdapterCombinationError);
    expect(() => convertToLora(dora, dora)).toThrow(AdapterConversionError);
  });

  it("trainable keys: PEFT's file keys with one active adapter, in-model keys with several", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    const config = createLoraConfig({ r: 2, target_modules: ["q_proj"], otherFields: { use_dora: true } });
    lora.addAdapter("a", config);
    const module = "model.layers.0.self_attn.q_proj";
    expect(lora.trainableParameters().has(`base_model.model.${module}.lora_magnitude_vector`)).toBe(true);
    expect(peftKey(module, LORA_MAGNITUDE_VECTOR)).toBe(`base_model.model.${module}.lora_magnitude_vector`);
    lora.addAdapter("b", config);
    lora.setActiveAdapters(["a", "b"]);
    expect(lora.trainableParameters().has(`base_model.model.${module}.lora_magnitude_vector.b.weight`)).toBe(
      true,
    );
  });
});
