import { afterEach, describe, expect, it } from "vitest";
import {
  AdapterInitError,
  doraVariant,
  type InitMethod,
  initializeAdapter,
  initMethodFor,
  knownParameterNames,
  type LoraVariant,
  listInitMethods,
  listLoraVariants,
  loraVariantFor,
  matrix,
  parseLoraConfig,
  plainVariant,
  registerInitMethod,
  registerLoraVariant,
  UnsupportedLoraOptionError,
  unregisterInitMethod,
  unregisterLoraVariant,
  zeroMatrix,
} from "../src/index.js";

/** A toy init written only against the public API: A = 1/in everywhere, B = 0. */
const constantInit: InitMethod = {
  name: "constant",
  description: "test init",
  handles: (init) => init === "constant",
  examples: ["constant"],
  readsBaseWeight: false,
  movesBaseWeight: false,
  initialize: ({ r, inFeatures, outFeatures }) => ({
    loraA: matrix(r, inFeatures, new Float32Array(r * inFeatures).fill(1 / inFeatures)),
    loraB: zeroMatrix(outFeatures, r),
  }),
};

/** A toy variant selected by a PEFT field peftjs refuses by default: plain LoRA at twice the scaling. */
const doubledVariant: LoraVariant = {
  name: "doubled",
  description: "test variant",
  configField: "use_qalora",
  extraParameters: ["lora_test_gain"],
  forward: (context, input, result) =>
    plainVariant.forward({ ...context, scaling: 2 * context.scaling }, input, result),
  merge: (context, weight) => plainVariant.merge({ ...context, scaling: 2 * context.scaling }, weight),
};

afterEach(() => {
  unregisterInitMethod("constant");
  unregisterLoraVariant("doubled");
});

describe("init method registry", () => {
  it("has the built-in inits, one folder each", () => {
    expect(
      listInitMethods()
        .map((method) => method.name)
        .sort(),
    ).toEqual(["default", "gaussian", "olora", "pissa", "random"]);
    expect(initMethodFor("pissa_niter_3").name).toBe("pissa");
    expect(initMethodFor(true).name).toBe("default");
    expect(initMethodFor(false).name).toBe("random");
    expect(initMethodFor("olora").movesBaseWeight).toBe(true);
  });

  it("a registered init is accepted by the config parser and used by initializeAdapter", () => {
    expect(() => parseLoraConfig({ init_lora_weights: "constant" })).toThrow(UnsupportedLoraOptionError);
    registerInitMethod(constantInit);
    expect(() => registerInitMethod(constantInit)).toThrow(AdapterInitError);
    const config = parseLoraConfig({ r: 2, init_lora_weights: "constant", target_modules: ["q_proj"] });
    const unread = () => {
      throw new Error("a plain init must not read the base weight");
    };
    const modules = new Map([
      ["model.layers.0.self_attn.q_proj", { outFeatures: 6, inFeatures: 4, readWeight: unread }],
      ["model.layers.0.self_attn.k_proj", { outFeatures: 6, inFeatures: 4, readWeight: unread }],
    ]);
    const { adapter } = initializeAdapter(config, modules);
    expect([...adapter.modules.keys()]).toEqual(["model.layers.0.self_attn.q_proj"]);
    expect(
      adapter.modules.get("model.layers.0.self_attn.q_proj")?.loraA.data.every((value) => value === 0.25),
    ).toBe(true);
    expect(unregisterInitMethod("constant")).toBe(true);
    expect(() => initMethodFor("constant")).toThrow(/registered: /);
  });
});

describe("LoRA variant registry", () => {
  it("plain LoRA is the default; a variant is selected by its config field, which the parser then accepts", () => {
    expect(listLoraVariants().map((variant) => variant.name)).toEqual(["plain", "dora"]);
    expect(loraVariantFor(parseLoraConfig({ use_dora: true }))).toBe(doraVariant);
    expect(() => parseLoraConfig({ use_qalora: true })).toThrow(UnsupportedLoraOptionError);
    expect(loraVariantFor(parseLoraConfig({}))).toBe(plainVariant);
    registerLoraVariant(doubledVariant);
    expect(() => registerLoraVariant(doubledVariant)).toThrow(UnsupportedLoraOptionError);
    expect(() => registerLoraVariant({ ...plainVariant, name: "second default" })).toThrow(/the default/);
    const config = parseLoraConfig({ use_qalora: true });
    expect(loraVariantFor(config)).toBe(doubledVariant);
    expect(loraVariantFor(parseLoraConfig({ use_qalora: false }))).toBe(plainVariant);
    expect(() => loraVariantFor(parseLoraConfig({ use_qalora: true, use_dora: true }))).toThrow(
      /several LoRA variants/,
    );
    expect(knownParameterNames()).toEqual(["lora_A", "lora_B", "lora_magnitude_vector", "lora_test_gain"]);
    unregisterLoraVariant("doubled");
    expect(() => parseLoraConfig({ use_qalora: true })).toThrow(UnsupportedLoraOptionError);
  });
});
