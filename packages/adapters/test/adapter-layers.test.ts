import { Embedding, Linear } from "@peftjs/nn";
import { createGenerator, memory, type Tensor, tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  AdapterShapeError,
  LORA_A,
  LORA_EMBEDDING_A,
  LORA_EMBEDDING_B,
  LoraEmbedding,
  LoraLinear,
  MergeableAdapterLayer,
  plainVariant,
  TRAINABLE_TOKENS_DELTA,
  TrainableTokensLayer,
} from "../src/index.js";

// The bookkeeping LoraLinear, LoraEmbedding and TrainableTokensLayer share (MergeableAdapterLayer): merge and
// unmerge order, training refused while merged, deletion of a merged adapter, parameter replacement and the
// release of every tensor the layer owns. Small random layers; outputs compared with themselves.

const generator = createGenerator(11);
const values = (count: number) => Float32Array.from(generator.normalValues(count, 0, 1));

/** Reads a forward pass back and releases its tensor. */
function run(layer: { forward(input: Tensor): Tensor }, input: Tensor): Float32Array {
  const output = layer.forward(input);
  const result = output.toFloat32Array();
  output.dispose();
  return result;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((worst, value, index) => Math.max(worst, Math.abs(value - b[index]!)), 0);
}

interface LayerCase {
  readonly kind: string;
  /** A fresh layer and an input for it; `install(name)` adds adapter `name` (adapters "a" and "b" differ). */
  create(): {
    layer: LoraLinear | LoraEmbedding | TrainableTokensLayer;
    input: Tensor;
    install(name: "a" | "b"): void;
  };
  /** One trainable parameter of every adapter, and its shape. */
  readonly parameter: string;
  readonly shape: readonly number[];
  /** How far a merged output may be from the unmerged one. */
  readonly mergeTolerance: number;
}

const cases: LayerCase[] = [
  {
    kind: "LoraLinear",
    create() {
      const layer = new LoraLinear(new Linear(tensor(values(12), [3, 4]), tensor(values(3), [3])));
      const install = (name: string) =>
        layer.setAdapter(name, {
          variant: plainVariant,
          scaling: 0.5,
          dropout: 0,
          parameters: new Map([
            ["lora_A", tensor(values(8), [2, 4])],
            ["lora_B", tensor(values(6), [3, 2])],
          ]),
        });
      return { layer, input: tensor(values(8), [2, 4]), install };
    },
    parameter: LORA_A,
    shape: [2, 4],
    // W·x + s·B·(A·x) against (W + s·B·A)·x in float32: rounding of values of order 1
    mergeTolerance: 1e-5,
  },
  {
    kind: "LoraEmbedding",
    create() {
      const layer = new LoraEmbedding(new Embedding(tensor(values(18), [6, 3])));
      const install = (name: string) =>
        layer.setAdapter(name, {
          scaling: 2,
          parameters: new Map([
            [LORA_EMBEDDING_A, tensor(values(12), [2, 6])],
            [LORA_EMBEDDING_B, tensor(values(6), [3, 2])],
          ]),
        });
      return { layer, input: tensor(Int32Array.from([0, 3, 5, 3]), [4]), install };
    },
    parameter: LORA_EMBEDDING_A,
    shape: [2, 6],
    // E[ids] + s·Aᵀ[ids]·Bᵀ against (E + s·(B·A)ᵀ)[ids] in float32
    mergeTolerance: 1e-5,
  },
  {
    kind: "TrainableTokensLayer",
    create() {
      const layer = new TrainableTokensLayer(new Embedding(tensor(values(18), [6, 3])));
      // disjoint token sets, as adapters applied together must have
      const install = (name: "a" | "b") =>
        layer.setAdapter(
          name,
          name === "a" ? [1, 3] : [4],
          tensor(values(name === "a" ? 6 : 3), [name === "a" ? 2 : 1, 3]),
        );
      return { layer, input: tensor(Int32Array.from([0, 3, 4, 1]), [4]), install };
    },
    parameter: TRAINABLE_TOKENS_DELTA,
    shape: [2, 3],
    // rows are copied in either way: products with the 0/1 tables are exact
    mergeTolerance: 0,
  },
];

describe.each(cases.map((layerCase) => [layerCase.kind, layerCase] as const))(
  "%s: the shared adapter bookkeeping",
  (_kind, { create, parameter, shape, mergeTolerance }) => {
    it("merges in order, unmerges LIFO back to the unmerged output bit for bit, and refuses training while merged", () => {
      const { layer, input, install } = create();
      expect(layer).toBeInstanceOf(MergeableAdapterLayer);
      install("a");
      install("b");
      layer.setActive(["a", "b"]);
      const unmerged = run(layer, input);
      layer.merge("a", true);
      layer.merge("b", true);
      layer.merge("a", true); // merged already: nothing happens
      expect(layer.mergedAdapters).toEqual(["a", "b"]);
      expect(maxAbsDifference(run(layer, input), unmerged)).toBeLessThanOrEqual(mergeTolerance);
      const replacement = tensor(
        new Float32Array(shape.reduce((product, extent) => product * extent, 1)),
        shape,
      );
      expect(() => layer.setParameter("a", parameter, replacement)).toThrow(
        new AdapterShapeError(`adapter "a" is merged; unmerge it before training`),
      );
      expect(layer.unmergeLast()).toBe("b");
      expect(layer.unmergeLast()).toBe("a");
      expect(layer.unmergeLast()).toBeUndefined();
      expect(layer.mergedAdapters).toEqual([]);
      expect(run(layer, input)).toEqual(unmerged);
      layer.setParameter("a", parameter, replacement);
      expect(layer.parameter("a", parameter)).toBe(replacement);
      layer.dispose();
      input.dispose();
    });

    it("deletes a merged adapter by recomputing the merged weight without it, and disposing releases every tensor", () => {
      const { layer, input, install } = create();
      const before = memory().tensors;
      install("a");
      install("b");
      layer.setActive(["b"]);
      const onlyB = run(layer, input);
      layer.setActive(["a", "b"]);
      layer.merge("a", false);
      layer.merge("b", false);
      layer.deleteAdapter("a");
      expect(layer.hasAdapter("a")).toBe(false);
      expect(layer.mergedAdapters).toEqual(["b"]);
      expect(maxAbsDifference(run(layer, input), onlyB)).toBeLessThanOrEqual(mergeTolerance);
      layer.dispose();
      expect(layer.mergedAdapters).toEqual([]);
      expect(memory().tensors).toBe(before);
      input.dispose();
    });

    it("replaces a parameter, releasing the old tensor, and names what it refuses", () => {
      const { layer, input, install } = create();
      install("a");
      const count = memory().tensors;
      const size = shape.reduce((product, extent) => product * extent, 1);
      layer.setParameter("a", parameter, tensor(values(size), shape));
      expect(memory().tensors).toBe(count);
      expect(() => layer.setParameter("a", parameter, tensor(values(size + 1), [size + 1]))).toThrow(
        `new ${parameter} of adapter "a" is [${size + 1}], expected [${shape.join(", ")}]`,
      );
      expect(() => layer.parameter("a", "nope")).toThrow(
        new AdapterShapeError(`adapter "a" in this layer has no parameter "nope"`),
      );
      expect(() => layer.parameterNames("missing")).toThrow(AdapterShapeError);
      layer.dispose();
      input.dispose();
    });
  },
);

describe("what only some adapter layers do", () => {
  it("LoraLinear: an adapter holding only a bias here stays active after deleteAdapter, until its bias goes", () => {
    const base = new Linear(tensor(values(12), [3, 4]), tensor(values(3), [3]));
    const layer = new LoraLinear(base);
    const bias = tensor(values(3), [3]);
    layer.setBiasOverride("x", bias);
    layer.setActive(["x", "unknown"]);
    expect(layer.effectiveBias()).toBe(bias);
    layer.deleteAdapter("x");
    expect(layer.effectiveBias()).toBe(bias);
    layer.deleteBiasOverride("x");
    expect(layer.effectiveBias()).toBe(base.bias);
    layer.dispose();
  });

  it("TrainableTokensLayer: a tied head applies the embedding's rows but owns none of them", () => {
    const weight = tensor(values(18), [6, 3]);
    const embedding = new TrainableTokensLayer(new Embedding(weight));
    const head = new TrainableTokensLayer(new Linear(weight), embedding);
    embedding.setAdapter("t", [2], tensor(values(3), [1, 3]));
    expect(head.hasAdapter("t")).toBe(true);
    expect(head.adapterNames()).toEqual(["t"]);
    expect(head.parameterNames("t")).toEqual([]);
    expect([...head.namedParameters().keys()]).toEqual(["base_layer.weight"]);
    expect([...embedding.namedParameters().keys()].sort()).toEqual([
      "base_layer.weight",
      "token_adapter.trainable_tokens_delta.t",
    ]);
    expect(() => head.setAdapter("u", [1], tensor(values(3), [1, 3]))).toThrow(
      new AdapterShapeError(`adapter "u": a tied token layer follows the embedding's rows`),
    );
    expect(() => head.parameter("missing", TRAINABLE_TOKENS_DELTA)).toThrow(
      new AdapterShapeError(`the layer carries no token adapter "missing"`),
    );
    head.setActive(["t"]);
    head.merge("t", true);
    expect(head.mergedAdapters).toEqual(["t"]);
    // deleting or disposing the head forgets the adapter there; the embedding keeps its rows
    head.deleteAdapter("t");
    expect(head.mergedAdapters).toEqual([]);
    head.dispose();
    expect(embedding.hasAdapter("t")).toBe(true);
    expect(embedding.parameter("t", TRAINABLE_TOKENS_DELTA).toFloat32Array()).toHaveLength(3);
    embedding.dispose();
    weight.dispose();
  });
});
