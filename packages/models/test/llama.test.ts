import { readFileSync } from "node:fs";
import { deserialize, fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import { Linear, type LinearLike, Module, ModuleNotFoundError, ModuleShapeError } from "@peftjs/nn";
import { add, matmul, memory, reshape, scale, type Tensor, tensor, tidy } from "@peftjs/tensor";
import { afterAll, describe, expect, it } from "vitest";
import {
  type CausalLM,
  createModel,
  generate,
  LlamaForCausalLM,
  ModelInputError,
  ModelWeightsError,
  parseLlamaConfig,
} from "../src/index.js";
import { logitsOf, maxAbsDifference } from "./reference-helpers.js";

/** stories260K (llama2.c) starts every sequence with BOS = 1. */
const BOS_TOKEN_ID = 1;

const fixtures = new URL("./fixtures/stories260k/", import.meta.url);
const configJson = JSON.parse(readFileSync(new URL("config.json", fixtures), "utf8")) as Record<
  string,
  unknown
>;
const weights = deserialize(new Uint8Array(readFileSync(new URL("model.safetensors", fixtures)))).tensors;
const reference = JSON.parse(readFileSync(new URL("reference.json", fixtures), "utf8")) as {
  greedy_token_ids: number[];
};
const referenceLogitsFile = deserialize(
  new Uint8Array(readFileSync(new URL("reference_logits.safetensors", fixtures))),
).tensors;
const referenceIds = Array.from(toFloat32(referenceLogitsFile.get("input_ids")!));
const referenceLogits = toFloat32(referenceLogitsFile.get("logits")!);

const model = createModel(configJson, weights);
afterAll(() => model.dispose());

/** A wrapper that adds `factor · x Wᵀ` to the wrapped module's output and counts its calls. */
class ScaledResidual extends Module implements LinearLike {
  calls = 0;
  readonly inFeatures: number;
  readonly outFeatures: number;
  constructor(
    readonly base: LinearLike,
    private readonly factor: number,
  ) {
    super();
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
  }
  forward(input: Tensor): Tensor {
    this.calls++;
    const output = this.base.forward(input);
    if (this.factor === 0) return output;
    return add(output, scale(this.base.forward(input), this.factor));
  }
}

describe("LlamaForCausalLM on stories260K", () => {
  it("reproduces transformers' logits for BOS + 15 greedy tokens", () => {
    expect(referenceIds).toEqual([BOS_TOKEN_ID, ...reference.greedy_token_ids.slice(0, 15)]);
    const logits = model.forward([referenceIds]);
    expect(logits.shape).toEqual([1, 16, 512]);
    // Both sides compute in float32 and differ only in summation order (matmul blocking, softmax and
    // RMSNorm sums), so the error is round-off: a few float32 ulps of |logit| ≤ 20.5 (ulp 1.9e-6)
    // accumulated over 5 layers. We measured 1.0e-5 on the js backend; 1e-4 leaves room for backends that
    // sum in other orders and is still 40× below the 4.2e-3 smallest top-1/top-2 gap of greedy decoding.
    expect(maxAbsDifference(logits.toFloat32Array(), referenceLogits)).toBeLessThan(1e-4);
    logits.dispose();
  });

  it("generates llama2.c's 200 greedy tokens from BOS with a KV cache", async () => {
    const tokens = await generate(model, [BOS_TOKEN_ID], { maxNewTokens: 200, stopTokens: [] });
    expect(tokens).toEqual(reference.greedy_token_ids);
  });

  it("gives the same logits with a KV cache, fed in chunks, as one full forward", () => {
    const full = logitsOf(model, [referenceIds]);
    const cache = model.createCache(1);
    const chunks = [referenceIds.slice(0, 5), referenceIds.slice(5, 6), referenceIds.slice(6)];
    const pieces: number[] = [];
    for (const chunk of chunks) {
      const logits = model.forward([chunk], { cache });
      pieces.push(...logits.toFloat32Array());
      logits.dispose();
    }
    expect(cache.length).toBe(16);
    cache.dispose();
    // Same float32 math; only the matmul shapes (and so summation blocking) differ.
    expect(maxAbsDifference(pieces, full)).toBeLessThan(1e-5);
  });

  it("continues a batch of sequences from a KV cache", () => {
    const rows = [referenceIds, [BOS_TOKEN_ID, 403, 359, ...referenceIds.slice(3)]];
    const full = logitsOf(model, rows);
    const cache = model.createCache(2);
    const first = model.forward(
      rows.map((row) => row.slice(0, 10)),
      { cache },
    );
    const second = model.forward(
      rows.map((row) => row.slice(10)),
      { cache },
    );
    const [a, b] = [first.toFloat32Array(), second.toFloat32Array()];
    first.dispose();
    second.dispose();
    cache.dispose();
    const vocab = 512;
    const stitched = rows.flatMap((_, row) => [
      ...a.subarray(row * 10 * vocab, (row + 1) * 10 * vocab),
      ...b.subarray(row * 6 * vocab, (row + 1) * 6 * vocab),
    ]);
    expect(maxAbsDifference(stitched, full)).toBeLessThan(1e-5);
  });

  it("treats every row of a batch independently", () => {
    const rowA = referenceIds;
    const rowB = [BOS_TOKEN_ID, 403, 359, ...referenceIds.slice(3)];
    const batch = logitsOf(model, [rowA, rowB]);
    const single = [...logitsOf(model, [rowA]), ...logitsOf(model, [rowB])];
    expect(maxAbsDifference(batch, single)).toBeLessThan(1e-5);
  });

  it("applies the causal mask: later tokens do not change earlier logits", () => {
    const prefix = logitsOf(model, [referenceIds.slice(0, 8)]);
    const longer = logitsOf(model, [referenceIds]).subarray(0, prefix.length);
    expect(maxAbsDifference(prefix, longer)).toBeLessThan(1e-5);
  });

  it("does not leak tensors across forward and generation", async () => {
    const before = memory().tensors;
    logitsOf(model, [referenceIds]);
    await generate(model, [BOS_TOKEN_ID], { maxNewTokens: 5 });
    expect(memory().tensors).toBe(before);
  });

  it("rejects bad input with typed errors", async () => {
    expect(() => model.forward([[1, 2], [3]])).toThrow(ModelInputError);
    expect(() => model.forward([[1, 512]])).toThrow("token id 512 is outside the vocabulary [0, 512)");
    expect(() => model.forward([])).toThrow(ModelInputError);
    const cache = model.createCache(2);
    expect(() => model.forward([[1]], { cache })).toThrow(
      "batch of 1 sequences does not match the cache's 2",
    );
    await expect(generate(model, [], { maxNewTokens: 1 })).rejects.toThrow(ModelInputError);
    await expect(generate(model, [1], { maxNewTokens: 600 })).rejects.toThrow(
      /exceeds max_position_embeddings 512/,
    );
    await expect(generate(model, [1], { maxNewTokens: 1, temperature: -1 })).rejects.toThrow(/temperature/);
  });
});

/** The linear layers of a model by module path, in module order (what PEFT's target_modules select from). */
function linearLayers(target: Module): Map<string, Linear> {
  const result = new Map<string, Linear>();
  for (const [path, module] of target.namedModules()) if (module instanceof Linear) result.set(path, module);
  return result;
}

describe("linear module slots", () => {
  it("lists every projection by its Hugging Face module path", () => {
    const names = [...linearLayers(model).keys()];
    expect(names).toHaveLength(5 * 7 + 1);
    expect(names.slice(0, 7)).toEqual([
      "model.layers.0.self_attn.q_proj",
      "model.layers.0.self_attn.k_proj",
      "model.layers.0.self_attn.v_proj",
      "model.layers.0.self_attn.o_proj",
      "model.layers.0.mlp.gate_proj",
      "model.layers.0.mlp.up_proj",
      "model.layers.0.mlp.down_proj",
    ]);
    expect(names.at(-1)).toBe("lm_head");
    const kProj = model.getModule("model.layers.2.self_attn.k_proj") as Linear;
    expect([kProj.outFeatures, kProj.inFeatures]).toEqual([32, 64]);
    expect((model.getModule("model.layers.0.mlp.down_proj") as Linear).weight.shape).toEqual([64, 172]);
  });

  it("routes the forward pass through replaced modules and restores exactly", () => {
    const base = logitsOf(model, [referenceIds]);
    const name = "model.layers.1.self_attn.v_proj";
    let identityWrapper: ScaledResidual | undefined;
    const original = model.replaceModule(name, (current) => {
      identityWrapper = new ScaledResidual(current as LinearLike, 0);
      return identityWrapper;
    });
    expect(model.getModule(name)).toBe(identityWrapper);
    expect(logitsOf(model, [referenceIds])).toEqual(base);
    expect(identityWrapper!.calls).toBe(1);
    expect(model.replaceModule(name, () => new ScaledResidual(original as LinearLike, 0.5))).toBe(
      identityWrapper,
    );
    expect(maxAbsDifference(logitsOf(model, [referenceIds]), base)).toBeGreaterThan(1e-2);
    model.replaceModule(name, () => original);
    expect(logitsOf(model, [referenceIds])).toEqual(base);
  });

  it("rejects unknown names and replacements that do not fit", () => {
    expect(() => model.getModule("model.layers.9.self_attn.q_proj")).toThrow(ModuleNotFoundError);
    const path = "model.layers.0.self_attn.q_proj";
    const qProj = model.getModule(path);
    const kWeight = (model.getModule("model.layers.0.self_attn.k_proj") as Linear).weight;
    expect(() => model.replaceModule(path, () => new Linear(kWeight))).toThrow(ModuleShapeError);
    expect(model.getModule(path)).toBe(qProj);
  });

  it("computes x · Wᵀ over any leading axes", () => {
    const linear = model.getModule("model.layers.0.mlp.up_proj") as Linear;
    const input = tensor(
      Array.from({ length: 2 * 3 * 64 }, (_, index) => Math.sin(index)),
      [2, 3, 64],
    );
    const output = linear.forward(input);
    expect(output.shape).toEqual([2, 3, 172]);
    const expected = matmul(reshape(input, [6, 64]), linear.weight, { transposeB: true });
    expect(output.toFloat32Array()).toEqual(expected.toFloat32Array());
  });
});

describe("loading weights", () => {
  const referenceBase = logitsOf(model, [referenceIds]);

  it("uses lm_head.weight when embeddings are not tied, and requires it", () => {
    const untiedConfig = { ...configJson, tie_word_embeddings: false };
    expect(() => createModel(untiedConfig, weights)).toThrow('checkpoint lacks the weight "lm_head.weight"');
    const withHead = new Map(weights);
    withHead.set("lm_head.weight", weights.get("model.embed_tokens.weight")!);
    const untied = createModel(parseLlamaConfig(untiedConfig), withHead);
    expect(untied.namedParameters().has("lm_head.weight")).toBe(true);
    expect(logitsOf(untied, [referenceIds])).toEqual(referenceBase);
    untied.dispose();
  });

  it("names missing and misshapen weights", () => {
    const missing = new Map(weights);
    missing.delete("model.layers.3.mlp.up_proj.weight");
    expect(() => createModel(configJson, missing)).toThrow(ModelWeightsError);
    expect(() => createModel(configJson, missing)).toThrow(
      'checkpoint lacks the weight "model.layers.3.mlp.up_proj.weight"',
    );
    const misshapen = new Map(weights);
    const norm = weights.get("model.norm.weight")!;
    misshapen.set("model.norm.weight", { ...norm, shape: [16, 4] });
    expect(() => createModel(configJson, misshapen)).toThrow(
      'weight "model.norm.weight" has shape [16, 4] but the config needs [64]',
    );
  });

  it("converts F16 and BF16 weights to float32 exactly", () => {
    for (const dtype of ["F16", "BF16"] as const) {
      const reduced = new Map<string, RawTensor>();
      const rounded = new Map<string, RawTensor>();
      for (const [key, raw] of weights) {
        const low: RawTensor = { dtype, shape: raw.shape, data: fromFloat32(toFloat32(raw), dtype) };
        reduced.set(key, low);
        rounded.set(key, { dtype: "F32", shape: raw.shape, data: fromFloat32(toFloat32(low), "F32") });
      }
      const fromLow = createModel(configJson, reduced);
      const fromRounded = createModel(configJson, rounded);
      const lowLogits = logitsOf(fromLow, [referenceIds]);
      expect(lowLogits).toEqual(logitsOf(fromRounded, [referenceIds]));
      // Rounding the weights does change the model (a check that the dtype was really reduced).
      expect(maxAbsDifference(lowLogits, referenceBase)).toBeGreaterThan(0);
      fromLow.dispose();
      fromRounded.dispose();
    }
  });
});

describe("the base model's identity", () => {
  it("is the tensors the model read, by checkpoint key, as stored; a tied head reads nothing", () => {
    expect(model).toBeInstanceOf(LlamaForCausalLM);
    // stories260K's file holds exactly what a tied Llama reads, so the identity is the whole checkpoint
    expect(model.weights.names().sort()).toEqual([...weights.keys()].sort());
    expect(model.weights.has("lm_head.weight")).toBe(false);
    expect(model.weights.modelFingerprint()).toMatch(/^fp1:7438212e/);
    // a tied checkpoint's lm_head.weight is not read, so it is not part of the identity
    const withHead = new Map(weights);
    withHead.set("lm_head.weight", weights.get("model.embed_tokens.weight")!);
    const tied = createModel(configJson, withHead);
    expect(tied.weights.modelFingerprint()).toBe(model.weights.modelFingerprint());
    tied.dispose();
  });

  it("keeps the stored dtype: a bf16 checkpoint stays bf16 in memory and is identified as bf16", () => {
    const bf16 = new Map<string, RawTensor>();
    for (const [key, raw] of weights) {
      bf16.set(key, { dtype: "BF16", shape: raw.shape, data: fromFloat32(toFloat32(raw), "BF16") });
    }
    const low = createModel(configJson, bf16);
    expect(low.weights.get("model.norm.weight").dtype).toBe("BF16");
    expect(low.weights.modelFingerprint()).not.toBe(model.weights.modelFingerprint());
    expect((low.getModule("model.norm") as unknown as { weight: Tensor }).weight.dtype).toBe("bfloat16");
    low.dispose();
  });
});

describe("ownership", () => {
  it("keeps its weights alive when built inside tidy()", () => {
    let inner!: CausalLM;
    tidy(() => {
      inner = createModel(configJson, weights);
    });
    const head = inner.getModule("lm_head") as Linear;
    expect(head.weight.isDisposed).toBe(false);
    expect(logitsOf(inner, [referenceIds])).toEqual(logitsOf(model, [referenceIds]));
    inner.dispose();
    expect(head.weight.isDisposed).toBe(true);
    expect(() => inner.forward([[1]])).toThrow("the model was disposed");
  });
});
