import { afterEach, describe, expect, it } from "vitest";
import {
  AdapterInitError,
  type AdapterVariant,
  initializeAdapter,
  listAdapterVariants,
  matrix,
  parseLoraConfig,
  registerAdapterVariant,
  UnsupportedLoraOptionError,
  unregisterAdapterVariant,
  variantForInit,
  zeroMatrix,
} from "../src/index.js";

/** A toy variant written only against the public API: A = 1/in everywhere, B = 0. */
const constantVariant: AdapterVariant = {
  name: "constant",
  description: "test variant",
  handles: (init) => init === "constant",
  readsBaseWeight: false,
  movesBaseWeight: false,
  initialize: ({ r, inFeatures, outFeatures }) => ({
    loraA: matrix(r, inFeatures, new Float32Array(r * inFeatures).fill(1 / inFeatures)),
    loraB: zeroMatrix(outFeatures, r),
  }),
};

afterEach(() => {
  unregisterAdapterVariant("constant");
});

describe("variant registry", () => {
  it("has the built-in variants, OLoRA included", () => {
    expect(
      listAdapterVariants()
        .map((variant) => variant.name)
        .sort(),
    ).toEqual(["lora", "olora", "pissa"]);
    expect(variantForInit("pissa_niter_3").name).toBe("pissa");
    expect(variantForInit(true).name).toBe("lora");
    expect(variantForInit("olora").movesBaseWeight).toBe(true);
  });

  it("a registered variant's init is accepted by the config parser and used by initializeAdapter", () => {
    expect(() => parseLoraConfig({ init_lora_weights: "constant" })).toThrow(UnsupportedLoraOptionError);
    registerAdapterVariant(constantVariant);
    expect(() => registerAdapterVariant(constantVariant)).toThrow(AdapterInitError);
    const config = parseLoraConfig({ r: 2, init_lora_weights: "constant", target_modules: ["q_proj"] });
    const weights = new Map([
      ["model.layers.0.self_attn.q_proj", { values: zeroMatrix(6, 4), dtype: "F32" as const }],
      ["model.layers.0.self_attn.k_proj", { values: zeroMatrix(6, 4), dtype: "F32" as const }],
    ]);
    const { adapter } = initializeAdapter(config, weights);
    expect([...adapter.modules.keys()]).toEqual(["model.layers.0.self_attn.q_proj"]);
    expect(
      adapter.modules.get("model.layers.0.self_attn.q_proj")?.loraA.data.every((value) => value === 0.25),
    ).toBe(true);
    expect(unregisterAdapterVariant("constant")).toBe(true);
    expect(() => variantForInit("constant")).toThrow(/registered: /);
  });
});
