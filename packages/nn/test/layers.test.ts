import { createGenerator, sum, tensor, valueAndGradients } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  activationByName,
  Embedding,
  geluTanh,
  Linear,
  ModuleShapeError,
  RMSNorm,
  UnsupportedActivationError,
} from "../src/index.js";

// References in float64; the layers compute in float32, so the bounds are a few float32 ulps of the values
// (|values| ≤ ~10): 1e-5 absolute.
const tolerance = 1e-5;
const generator = createGenerator(7);
const random = (count: number) => Array.from(generator.normalValues(count, 0, 1));

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}

describe("Linear", () => {
  const [batch, rows, inFeatures, outFeatures] = [2, 3, 5, 4];
  const x = random(batch * rows * inFeatures);
  const w = random(outFeatures * inFeatures);
  const b = random(outFeatures);
  const reference = (withBias: boolean) =>
    Array.from({ length: batch * rows * outFeatures }, (_, index) => {
      const [row, column] = [Math.floor(index / outFeatures), index % outFeatures];
      let value = withBias ? b[column]! : 0;
      for (let k = 0; k < inFeatures; k++) value += x[row * inFeatures + k]! * w[column * inFeatures + k]!;
      return value;
    });

  it.each([true, false])("computes x·Wᵀ (+ b) over the last axis of any rank (bias %s)", (withBias) => {
    const layer = new Linear(
      tensor(w, [outFeatures, inFeatures]),
      withBias ? tensor(b, [outFeatures]) : undefined,
    );
    expect([layer.inFeatures, layer.outFeatures]).toEqual([inFeatures, outFeatures]);
    const output = layer.forward(tensor(x, [batch, rows, inFeatures]));
    expect(output.shape).toEqual([batch, rows, outFeatures]);
    expect(maxAbs(output.toFloat32Array(), reference(withBias))).toBeLessThan(tolerance);
  });

  it("differentiates through the bias: ∂Σy/∂b = number of rows", () => {
    const bias = tensor(b, [outFeatures]);
    const layer = new Linear(tensor(w, [outFeatures, inFeatures]), bias);
    const { gradients } = valueAndGradients(
      () => sum(layer.forward(tensor(x, [batch * rows, inFeatures]))),
      [bias],
    );
    expect(gradients[0]!.toArray()).toEqual(new Array(outFeatures).fill(batch * rows));
  });

  it("refuses misshapen weights, biases and inputs", () => {
    expect(() => new Linear(tensor([1, 2], [2]))).toThrow(ModuleShapeError);
    expect(() => new Linear(tensor(w, [outFeatures, inFeatures]), tensor([1, 2], [2]))).toThrow(
      /must be \[4\]/,
    );
    const layer = new Linear(tensor(w, [outFeatures, inFeatures]));
    expect(() => layer.forward(tensor([1, 2, 3], [1, 3]))).toThrow(/last axis must be 5/);
  });
});

describe("Embedding", () => {
  it("returns the rows of the ids, in the ids' shape", () => {
    const table = Array.from({ length: 12 }, (_, index) => index);
    const embedding = new Embedding(tensor(table, [4, 3]));
    const rows = embedding.forward(tensor([3, 0, 2, 2], [2, 2], "int32"));
    expect(rows.shape).toEqual([2, 2, 3]);
    expect(rows.toArray()).toEqual([9, 10, 11, 0, 1, 2, 6, 7, 8, 6, 7, 8]);
    expect([embedding.numEmbeddings, embedding.embeddingDim]).toEqual([4, 3]);
  });
});

describe("RMSNorm", () => {
  const hidden = 6;
  const x = random(2 * hidden);
  const w = random(hidden);
  const reference = (unitOffset: boolean) =>
    x.map((value, index) => {
      const row = x.slice(Math.floor(index / hidden) * hidden, Math.floor(index / hidden + 1) * hidden);
      const meanSquare = row.reduce((total, entry) => total + entry * entry, 0) / hidden;
      const scale = (unitOffset ? 1 : 0) + w[index % hidden]!;
      return (value / Math.sqrt(meanSquare + 1e-6)) * scale;
    });

  it.each([false, true])("normalises the last axis, scale w or (1 + w) (unitOffset %s)", (unitOffset) => {
    const norm = new RMSNorm(tensor(w, [hidden]), { eps: 1e-6, unitOffset });
    const output = norm.forward(tensor(x, [2, hidden]));
    expect(maxAbs(output.toFloat32Array(), reference(unitOffset))).toBeLessThan(tolerance);
  });
});

describe("activations", () => {
  it("geluTanh is PyTorch's gelu(approximate='tanh')", () => {
    const x = [-6, -3, -1.5, -0.5, -1e-3, 0, 1e-3, 0.5, 1.5, 3, 6, ...random(20)];
    const reference = x.map(
      (value) => 0.5 * value * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (value + 0.044715 * value ** 3))),
    );
    expect(maxAbs(geluTanh(tensor(x, [x.length])).toFloat32Array(), reference)).toBeLessThan(tolerance);
    expect(activationByName("gelu_pytorch_tanh")).toBe(geluTanh);
  });

  it("looks activations up by their config name and refuses unknown ones, naming them", () => {
    const silu = activationByName("silu");
    expect(silu(tensor([1], [1])).toArray()[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    expect(() => activationByName("gelu")).toThrow(UnsupportedActivationError);
    expect(() => activationByName("relu")).toThrow(/"relu" is not supported; supported: "silu"/);
    expect(() => activationByName("constructor")).toThrow(UnsupportedActivationError);
  });
});
