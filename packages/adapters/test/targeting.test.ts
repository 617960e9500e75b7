import { describe, expect, it } from "vitest";
import { type LoraAdapter, LoraConfigError, LoraLinear, LoraModel, withLoraConfig } from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath } from "./helpers.js";
import { logitsOf, storiesModel } from "./model-helpers.js";

// Loading applies the config's targeting as PEFT 0.21 does (peft_model.load_adapter → inject_adapter, then
// load_state_dict(strict=False)): the config picks the modules (target_modules, exclude_modules,
// layers_to_transform / layers_pattern), the file fills them; a targeted module without tensors keeps the
// config's init ("Found missing adapter keys"), tensors of modules the config does not target are
// unexpected keys and are ignored, and a config that targets nothing is refused ("Target modules … not found
// in the base model"). lora_default's file holds q_proj and v_proj of layers 0–4.
const ids = [[1, 403, 407, 261, 378, 432, 383, 286]];
const trained = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));

function withoutModules(adapter: LoraAdapter, drop: (name: string) => boolean): LoraAdapter {
  return { ...adapter, modules: new Map([...adapter.modules].filter(([name]) => !drop(name))) };
}

/** Logits of stories260K with `adapter` loaded; the load's report. */
async function load(adapter: LoraAdapter) {
  const model = await storiesModel();
  const lora = LoraModel.create(model);
  const result = lora.loadAdapter("default", adapter);
  const wrapped = [...model.namedModules()]
    .filter(([, module]) => module instanceof LoraLinear)
    .map(([path]) => path);
  return { logits: logitsOf(model, ids), result, wrapped };
}

describe("the config's targeting when loading a file", () => {
  it("exclude_modules: excluded modules get no adapter; their tensors are reported and ignored", async () => {
    const excluded = "model.layers.2.self_attn.v_proj";
    const config = withLoraConfig(trained.config, { exclude_modules: [excluded] });
    const { logits, result, wrapped } = await load({ ...trained, config });
    expect(wrapped).toHaveLength(9);
    expect(wrapped).not.toContain(excluded);
    expect(result).toEqual({ missingModules: [], unexpectedModules: [excluded] });
    // the same as a file without that module's tensors
    const reference = await load(withoutModules(trained, (name) => name === excluded));
    expect(logits).toEqual(reference.logits);
    // a regex exclusion (full match) works the same way
    const regex = withLoraConfig(trained.config, { exclude_modules: ".*layers\\.2\\.self_attn\\.v_proj" });
    expect((await load({ ...trained, config: regex })).logits).toEqual(logits);
  });

  it("layers_to_transform: only those layers get the adapter", async () => {
    const config = withLoraConfig(trained.config, {
      target_modules: ["q_proj", "v_proj"],
      layers_to_transform: [1, 3],
    });
    const { logits, result, wrapped } = await load({ ...trained, config });
    expect(wrapped).toEqual([
      "model.layers.1.self_attn.q_proj",
      "model.layers.1.self_attn.v_proj",
      "model.layers.3.self_attn.q_proj",
      "model.layers.3.self_attn.v_proj",
    ]);
    expect(result.unexpectedModules).toHaveLength(6);
    const reference = await load(withoutModules(trained, (name) => !/layers\.[13]\./.test(name)));
    expect(logits).toEqual(reference.logits);
  });

  it("a targeted module missing from the file keeps the config's init (zero delta for the default init)", async () => {
    const config = withLoraConfig(trained.config, { target_modules: ["q_proj", "k_proj", "v_proj"] });
    const { logits, result, wrapped } = await load({ ...trained, config });
    expect(wrapped).toHaveLength(15);
    expect(result.missingModules).toEqual(
      [0, 1, 2, 3, 4].map((layer) => `model.layers.${layer}.self_attn.k_proj`),
    );
    // kaiming A, B = 0: the k_proj adapters change nothing
    expect(logits).toEqual((await load(trained)).logits);
    // init_lora_weights false starts B non-zero, so the missing modules do change the output (as in PEFT)
    const random = withLoraConfig(config, { init_lora_weights: false });
    expect((await load({ ...trained, config: random })).logits).not.toEqual(logits);
  });

  it("refuses a config whose target_modules match nothing, as PEFT does", async () => {
    const config = withLoraConfig(trained.config, { target_modules: ["query_key_value"] });
    const model = await storiesModel();
    expect(() => LoraModel.create(model).loadAdapter("default", { ...trained, config })).toThrow(
      LoraConfigError,
    );
    expect(() => LoraModel.create(model).loadAdapter("default", { ...trained, config })).toThrow(
      /Target modules \["query_key_value"\] not found in the base model/,
    );
    const everything = withLoraConfig(trained.config, { exclude_modules: ".*" });
    expect(() => LoraModel.create(model).loadAdapter("default", { ...trained, config: everything })).toThrow(
      LoraConfigError,
    );
  });
});
