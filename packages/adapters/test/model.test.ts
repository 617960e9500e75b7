import { AdapterNeedsOriginalBaseError } from "@peftjs/state";
import { describe, expect, it } from "vitest";
import {
  AdapterLoadError,
  type LoraFactors,
  LoraModel,
  matrix,
  NonFiniteMergeError,
  UnknownAdapterError,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, readRaw } from "./helpers.js";
import { logitsOf, maxAbs, referenceLogits, storiesModel } from "./model-helpers.js";

// Tolerances: the fixture README suggests 1e-3 absolute on logits (|logit| ≤ 20) for an fp32 implementation on
// the load/merge/convert paths; PEFT's own merged-vs-unmerged difference is 3e-5.
const logitTolerance = 1e-3;

describe("LoRA on stories260K (lora_default)", () => {
  it("reproduces PEFT's trained and merged logits; unmerge restores the unmerged output exactly", async () => {
    const { inputIds, logits } = await referenceLogits("lora_default");
    const model = await storiesModel();
    const base = logitsOf(model, inputIds);
    expect(maxAbs(base, logits.get("base_original") as Float32Array)).toBeLessThan(logitTolerance);
    const lora = LoraModel.create(model);
    lora.loadAdapter("default", await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained")));
    const trained = logitsOf(model, inputIds);
    expect(maxAbs(trained, logits.get("trained") as Float32Array)).toBeLessThan(logitTolerance);
    lora.merge();
    expect(lora.mergedAdapters).toEqual(["default"]);
    expect(maxAbs(logitsOf(model, inputIds), logits.get("merged") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
    expect(lora.unmerge()).toBe("default");
    expect(logitsOf(model, inputIds)).toEqual(trained);
    lora.disableAdapters();
    expect(logitsOf(model, inputIds)).toEqual(base);
    lora.enableAdapters();
    const merged = lora.mergeAndUnload();
    expect(merged.size).toBe(10);
    expect(maxAbs(logitsOf(model, inputIds), logits.get("merged") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
    expect(lora.store.journal).toHaveLength(10);
  });
});

describe.each(["pissa", "olora"])("%s on stories260K", (name) => {
  it("the converted adapter on the original base gives PEFT's converted_on_original logits", async () => {
    const { inputIds, logits } = await referenceLogits(name);
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.loadAdapter("converted", await loadPeftAdapter(fixturePath(`peft/${name}/adapter_converted`)));
    expect(
      maxAbs(logitsOf(model, inputIds), logits.get("converted_on_original") as Float32Array),
    ).toBeLessThan(logitTolerance);
    expect(lora.store.journal).toHaveLength(0);
  });

  it("the unconverted adapter gives PEFT's trained logits in overlay (base untouched) and residual mode", async () => {
    const { inputIds, logits } = await referenceLogits(name);
    const adapter = await loadPeftAdapter(fixturePath(`peft/${name}/adapter_trained`));
    const expected = logits.get("trained") as Float32Array;

    const overlayModel = await storiesModel();
    const base = logitsOf(overlayModel, inputIds);
    const overlay = LoraModel.create(overlayModel);
    overlay.loadAdapter(name, adapter);
    expect(overlay.adapterMode(name)).toBe("overlay");
    // OLoRA's QR on another LAPACK build differs by ~1e-7 (README), well inside the logit tolerance here
    expect(maxAbs(logitsOf(overlayModel, inputIds), expected)).toBeLessThan(logitTolerance);
    expect(overlay.store.journal).toHaveLength(0);
    overlay.disableAdapters();
    expect(logitsOf(overlayModel, inputIds)).toEqual(base);
    overlay.enableAdapters();
    overlay.merge();
    // W + s·BA − s·B₀A₀ in one weight = PEFT's merge_and_unload() of W_res + s·BA
    expect(maxAbs(logitsOf(overlayModel, inputIds), logits.get("merged") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
    expect(overlay.store.journal).toHaveLength(0);

    const warnings: unknown[] = [];
    const residualModel = await storiesModel(undefined, {
      weightStore: { warn: (warning) => warnings.push(warning) },
    });
    const residual = LoraModel.create(residualModel);
    const store = residual.store;
    residual.loadAdapter(name, adapter, { mode: "residual" });
    expect(maxAbs(logitsOf(residualModel, inputIds), expected)).toBeLessThan(logitTolerance);
    expect(store.journal).toHaveLength(20);
    expect(warnings).toHaveLength(20);
    expect(store.journal[0]?.by).toBe("@peftjs/adapters");
  });

  it("refuses the unconverted adapter on a residual base (PEFT subtracts s·B₀A₀ twice there)", async () => {
    const residualTargets = await readRaw(`peft/${name}/residual/targets.safetensors`);
    const model = await storiesModel(residualTargets);
    const lora = LoraModel.create(model);
    const adapter = await loadPeftAdapter(fixturePath(`peft/${name}/adapter_trained`));
    expect(() => lora.loadAdapter(name, adapter)).toThrow(AdapterLoadError);
    expect(() => lora.loadAdapter(name, adapter)).toThrow(/original base/);
  });
});

describe("mixing hazard (PEFT issue #2184)", () => {
  it("defaults: the LoRA's output is unchanged after an unconverted PiSSA adapter is loaded", async () => {
    const { inputIds, logits } = await referenceLogits("mixing_hazard");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.loadAdapter("lora", await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained")));
    const before = logitsOf(model, inputIds);
    expect(maxAbs(before, logits.get("lora_before") as Float32Array)).toBeLessThan(logitTolerance);
    lora.loadAdapter("pissa", await loadPeftAdapter(fixturePath("peft/pissa/adapter_trained")));
    lora.setActiveAdapters("pissa");
    expect(maxAbs(logitsOf(model, inputIds), logits.get("pissa_active") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
    lora.setActiveAdapters("lora");
    expect(logitsOf(model, inputIds)).toEqual(before);
    expect(lora.store.journal).toHaveLength(0);
  });

  it("residual mode with the guard on is a typed error; with the guard off it reproduces PEFT's wrong output", async () => {
    const { inputIds, logits } = await referenceLogits("mixing_hazard");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.store.setPolicy("silent");
    lora.loadAdapter("lora", await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained")));
    const pissa = await loadPeftAdapter(fixturePath("peft/pissa/adapter_trained"));
    expect(() => lora.loadAdapter("pissa", pissa, { mode: "residual" })).toThrow(/issue #2184/);
    lora.loadAdapter("pissa", pissa, { mode: "residual", guard: false });
    expect(lora.store.changedNames()).toHaveLength(20);
    lora.setActiveAdapters("pissa");
    expect(maxAbs(logitsOf(model, inputIds), logits.get("pissa_active") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
    lora.setActiveAdapters("lora");
    const after = logitsOf(model, inputIds);
    // PEFT's hazard: up to 15.8 logits off; we reproduce PEFT's wrong numbers
    expect(maxAbs(after, logits.get("lora_after") as Float32Array)).toBeLessThan(logitTolerance);
    expect(maxAbs(after, logits.get("lora_before") as Float32Array)).toBeGreaterThan(10);
    // and a PEFT LoRA loaded now is refused: the base was changed
    const fresh = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
    expect(() => lora.loadAdapter("lora3", fresh)).toThrow(AdapterNeedsOriginalBaseError);
  });

  it("the safe path (converted adapter beside the LoRA) matches PEFT's", async () => {
    const { inputIds, logits } = await referenceLogits("mixing_hazard");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.loadAdapter("lora", await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained")));
    lora.loadAdapter("pissa_as_lora", await loadPeftAdapter(fixturePath("peft/pissa/adapter_converted")));
    lora.setActiveAdapters("pissa_as_lora");
    expect(maxAbs(logitsOf(model, inputIds), logits.get("safe_pissa_as_lora") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
    lora.setActiveAdapters("lora");
    expect(maxAbs(logitsOf(model, inputIds), logits.get("safe_lora_after") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
  });
});

describe("merge safety, dropout and configuration checks", () => {
  const inputIds = [[1, 403, 407, 261, 378, 432]];

  it("a safe merge of non-finite weights throws and changes nothing; unsafe merges anyway", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    const adapter = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
    const [first, factors] = [...adapter.modules][0] as [string, LoraFactors];
    const broken = new Float32Array(factors.loraB.data);
    broken[0] = Number.POSITIVE_INFINITY;
    const modules = new Map(adapter.modules);
    modules.set(first, {
      loraA: factors.loraA,
      loraB: matrix(factors.loraB.rows, factors.loraB.columns, broken),
    });
    lora.loadAdapter("broken", { ...adapter, modules });
    expect(() => lora.merge()).toThrow(NonFiniteMergeError);
    expect(lora.mergedAdapters).toEqual([]);
    lora.merge(["broken"], { safe: false });
    expect(lora.mergedAdapters).toEqual(["broken"]);
  });

  it("dropout acts only in training mode", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    const adapter = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
    lora.loadAdapter("default", { ...adapter, config: { ...adapter.config, lora_dropout: 0.5 } });
    const evaluation = logitsOf(model, inputIds);
    lora.setTraining(true, 1);
    expect(logitsOf(model, inputIds)).not.toEqual(evaluation);
    lora.setTraining(false);
    expect(logitsOf(model, inputIds)).toEqual(evaluation);
  });

  it("refuses fan_in_fan_out on Linear layers, duplicate names and unknown adapters", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    const adapter = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
    expect(() =>
      lora.loadAdapter("x", { ...adapter, config: { ...adapter.config, fan_in_fan_out: true } }),
    ).toThrow(/fan_in_fan_out/);
    lora.loadAdapter("x", adapter);
    expect(() => lora.loadAdapter("x", adapter)).toThrow(/already exists/);
    expect(() => lora.setActiveAdapters("nope")).toThrow(UnknownAdapterError);
    lora.deleteAdapter("x");
    expect(lora.adapterNames).toEqual([]);
    expect(logitsOf(model, inputIds)).toEqual(logitsOf(await storiesModel(), inputIds));
  });
});

describe("adapters written by peftjs carry a fingerprint record", () => {
  const inputIds = [[1, 403, 407, 261, 378, 432]];

  it("hashes the base only when the record is read, with the value of the moment the adapter was added", async () => {
    const { createLoraConfig, decodePeftAdapter, encodePeftAdapter } = await import("../src/index.js");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    const config = createLoraConfig({ r: 4, init_lora_weights: "pissa", target_modules: ["q_proj"] });
    lora.addAdapter("overlay", config);
    const names = [...lora.store.names()];
    expect(names.some((name) => lora.store.get(name).hasFingerprint)).toBe(false);
    const atAdd = lora.store.modelFingerprint();
    // residual mode rewrites the base (journaled) before the first adapter's record is read
    lora.addAdapter("residual", config, { mode: "residual", guard: false });
    expect(lora.store.modelFingerprint()).not.toBe(atAdd);
    expect(lora.adapterRecord("overlay").baseFingerprint).toBe(atAdd);
    const saved = encodePeftAdapter(lora.getAdapter("overlay"));
    const reloaded = decodePeftAdapter(JSON.parse(saved.configText), saved.weights);
    expect(reloaded.metadata["peftjs.base_fingerprint"]).toBe(atAdd);
  });

  it("refuses another base with the state package's typed error; its conversion loads on the original", async () => {
    const { AdapterBaseMismatchError } = await import("@peftjs/state");
    const { convertToLora, createLoraConfig, decodePeftAdapter, encodePeftAdapter } = await import(
      "../src/index.js"
    );
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.addAdapter(
      "pissa",
      createLoraConfig({ r: 4, init_lora_weights: "pissa", target_modules: ["q_proj", "v_proj"] }),
    );
    const initial = lora.getAdapter("pissa");
    const saved = encodePeftAdapter(initial);
    const reloaded = decodePeftAdapter(JSON.parse(saved.configText), saved.weights);
    expect(reloaded.metadata["peftjs.base_fingerprint"]).toBe(lora.store.modelFingerprint());

    const otherModel = await storiesModel(await readRaw("peft/pissa/residual/targets.safetensors"));
    expect(() => LoraModel.create(otherModel).loadAdapter("pissa", reloaded)).toThrow(
      AdapterBaseMismatchError,
    );

    const converted = convertToLora(reloaded, initial);
    const freshModel = await storiesModel();
    const fresh = LoraModel.create(freshModel);
    fresh.loadAdapter("converted", converted);
    expect(fresh.adapterMode("converted")).toBeNull();
    // converted adapter of an untrained PiSSA: s·(B0A0 − B0A0) = 0, so the base output up to round-off
    expect(maxAbs(logitsOf(freshModel, inputIds), logitsOf(await storiesModel(), inputIds))).toBeLessThan(
      1e-4,
    );
  });
});

describe("pissa_niter_4: a randomized init cannot be recomputed", () => {
  it("is refused without its init adapter, and exact with it (overlay)", async () => {
    const { inputIds, logits } = await referenceLogits("pissa_niter_4");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    const trained = await loadPeftAdapter(fixturePath("peft/pissa_niter_4/adapter_trained"));
    expect(() => lora.loadAdapter("niter", trained)).toThrow(/cannot be recomputed/);
    const initialAdapter = await loadPeftAdapter(fixturePath("peft/pissa_niter_4/adapter_init"));
    lora.loadAdapter("niter", trained, { initialAdapter });
    expect(maxAbs(logitsOf(model, inputIds), logits.get("trained") as Float32Array)).toBeLessThan(
      logitTolerance,
    );
    expect(lora.store.journal).toHaveLength(0);
  });
});
