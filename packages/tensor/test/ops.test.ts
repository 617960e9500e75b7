import { describe, expect, it } from "vitest";
import {
  add,
  allFinite,
  applyRotaryEmbedding,
  arange,
  argmax,
  axpy,
  cast,
  clamp,
  concat,
  createGenerator,
  DTypeError,
  div,
  exp,
  eye,
  isFinite as finiteMask,
  frobeniusNorm,
  full,
  gather,
  log,
  matmul,
  max,
  mean,
  mul,
  neg,
  ones,
  reshape,
  rmsNorm,
  rotaryTables,
  ShapeError,
  scalar,
  scale,
  scaleColumns,
  scaleRows,
  sigmoid,
  silu,
  slice,
  softmax,
  sqrt,
  sub,
  sum,
  TensorArgumentError,
  tensor,
  transpose,
  zeros,
} from "../src/index.js";

const random = createGenerator(7);

/** float64 reference product of row-major matrices (a: m×k, b: k×n). */
function referenceProduct(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) c[i * n + j]! += a[i * k + p]! * b[p * n + j]!;
  return c;
}

function referenceTranspose(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c]!;
  return out;
}

/** Asserts |actual − expected| ≤ tolerance elementwise. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let index = 0; index < expected.length; index++) {
    expect(Math.abs(actual[index]! - expected[index]!), `element ${index}`).toBeLessThanOrEqual(tolerance);
  }
}

describe("creation", () => {
  it("builds tensors with shape, dtype, size and rank", () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float32");
    expect(t.size).toBe(6);
    expect(t.rank).toBe(2);
    expect(t.backend).toBe("js");
    expect(tensor(Int32Array.of(1, 2), [2]).dtype).toBe("int32");
    expect(tensor([1.9, -1.9], [2], "int32").toArray()).toEqual([1, -1]);
    expect(scalar(3).shape).toEqual([]);
    expect(scalar(3).item()).toBe(3);
    expect(zeros([2, 2]).toArray()).toEqual([0, 0, 0, 0]);
    expect(ones([3], "int32").dataSync()).toEqual(Int32Array.of(1, 1, 1));
    expect(full([2], 2.5).toArray()).toEqual([2.5, 2.5]);
    expect(eye(3).toArray()).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(arange(1, 4).toArray()).toEqual([1, 2, 3]);
  });

  it("copies input values and returns copies on read-back (tensors are immutable)", () => {
    const values = [1, 2, 3];
    const t = tensor(values, [3]);
    values[0] = 100;
    const read = t.dataSync();
    read[1] = 200;
    expect(t.toArray()).toEqual([1, 2, 3]);
    expect(t.toFloat32Array()).toEqual(Float32Array.of(1, 2, 3));
  });

  it("copies same-typed arrays too (the Float32Array/Int32Array fast path), truncating other int32 input", () => {
    const floats = Float32Array.of(1.5, 2.5);
    const integers = Int32Array.of(7, 8);
    const a = tensor(floats, [2]);
    const b = tensor(integers, [2], "int32");
    floats[0] = 100;
    integers[0] = 100;
    expect(a.toArray()).toEqual([1.5, 2.5]);
    expect(b.toArray()).toEqual([7, 8]);
    expect(tensor(Float64Array.of(-1.7, 2.9), [2], "int32").toArray()).toEqual([-1, 2]);
  });

  it("rejects a value count that does not fill the shape", () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(ShapeError);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow("3 values do not fill shape [2, 2] (4 elements)");
    expect(() => zeros([2, -1])).toThrow(TensorArgumentError);
  });
});

describe("matmul", () => {
  it("multiplies a hand-computed 2×3 by 3×2", () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([7, 8, 9, 10, 11, 12], [3, 2]);
    expect(matmul(a, b).toArray()).toEqual([58, 64, 139, 154]);
  });

  it("agrees with a float64 product for every transpose combination at odd sizes", () => {
    const [m, k, n] = [13, 29, 7];
    const a = random.uniformValues(m * k, -1, 1);
    const b = random.uniformValues(k * n, -1, 1);
    const expected = referenceProduct(a, b, m, k, n);
    const aT = referenceTranspose(a, m, k);
    const bT = referenceTranspose(b, k, n);
    // The reference kernel accumulates in float64 and rounds once: within half an ulp of |c| ≤ 29, i.e. < 2e-6.
    for (const [transposeA, transposeB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const left = tensor(transposeA ? aT : a, transposeA ? [k, m] : [m, k]);
      const right = tensor(transposeB ? bT : b, transposeB ? [n, k] : [k, n]);
      const product = matmul(left, right, { transposeA, transposeB });
      expect(product.shape).toEqual([m, n]);
      expectClose(product.dataSync(), expected, 2e-6);
    }
  });

  it("batches over leading axes and broadcasts a 2-D right operand", () => {
    const a = random.uniform([2, 3, 4, 5]);
    const b = random.uniform([5, 6]);
    const product = matmul(a, b);
    expect(product.shape).toEqual([2, 3, 4, 6]);
    const second = slice(reshape(a, [6, 4, 5]), [4, 0, 0], [1, -1, -1]);
    const expected = referenceProduct(second.toFloat32Array(), b.toFloat32Array(), 4, 5, 6);
    expectClose(slice(reshape(product, [6, 4, 6]), [4, 0, 0], [1, -1, -1]).dataSync(), expected, 1e-6);
    const left2d = random.uniform([4, 5]);
    const batchedRight = random.uniform([3, 6, 5]);
    expect(matmul(left2d, batchedRight, { transposeB: true }).shape).toEqual([3, 4, 6]);
  });

  it("names both shapes when they do not fit", () => {
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(
      "matmul: inner dimensions differ (3 vs 4) for a [2, 3] and b [4, 5]",
    );
    expect(() => matmul(zeros([3, 2]), zeros([4, 5]), { transposeA: true })).toThrow("a [3, 2]ᵀ");
    expect(() => matmul(zeros([2, 2, 3]), zeros([3, 3, 4]))).toThrow("batch axes [2] and [3] differ");
    expect(() => matmul(zeros([3]), zeros([3, 3]))).toThrow(ShapeError);
  });
});

describe("elementwise", () => {
  it("broadcasts like NumPy", () => {
    const column = tensor([1, 2, 3], [3, 1]);
    const row = tensor([10, 20], [1, 2]);
    const sumResult = add(column, row);
    expect(sumResult.shape).toEqual([3, 2]);
    expect(sumResult.toArray()).toEqual([11, 21, 12, 22, 13, 23]);
    expect(sub(tensor([5, 6, 7, 8], [2, 2]), tensor([1, 2], [2])).toArray()).toEqual([4, 4, 6, 6]);
    expect(mul(scalar(2), tensor([1, 2, 3], [3])).toArray()).toEqual([2, 4, 6]);
    expect(div(tensor([1, 2], [2]), 4).toArray()).toEqual([0.25, 0.5]);
    expect(sub(1, tensor([1, 2], [2])).toArray()).toEqual([0, -1]);
    expect(add(zeros([0, 3]), ones([3])).shape).toEqual([0, 3]);
    const mixed = mul(tensor([1, 2], [2], "int32"), tensor([0.5, 0.5], [2]));
    expect(mixed.dtype).toBe("float32");
    expect(mixed.toArray()).toEqual([0.5, 1]);
    expect(add(tensor([1, 2], [2], "int32"), 3).dtype).toBe("int32");
    expect(div(tensor([7, -7], [2], "int32"), 2).toArray()).toEqual([3, -3]);
  });

  it("rejects shapes that do not broadcast, naming them", () => {
    expect(() => add(zeros([2, 3]), zeros([3, 2]))).toThrow(
      "add: shapes [2, 3] and [3, 2] do not broadcast (axis 1 of the result: 3 vs 2)",
    );
  });

  it("computes scale, axpy, neg, sqrt, exp, log, silu, sigmoid and clamp", () => {
    const x = tensor([-2, -0.5, 0, 1, 4], [5]);
    expect(scale(x, 2).toArray()).toEqual([-4, -1, 0, 2, 8]);
    expect(axpy(2, x, ones([5])).toArray()).toEqual([-3, 0, 1, 3, 9]);
    expect(() => axpy(1, x, ones([4]))).toThrow("axpy: shapes [5] and [4] must be equal");
    expect(neg(x).toArray()).toEqual([2, 0.5, -0, -1, -4]);
    expect(sqrt(tensor([4, 9, 2], [3])).toArray()).toEqual([2, 3, Math.fround(Math.SQRT2)]);
    expect(exp(tensor([0, 1], [2])).toArray()).toEqual([1, Math.fround(Math.E)]);
    expect(log(tensor([1, 4], [2])).toArray()).toEqual([0, Math.fround(Math.log(4))]);
    const sigmoidValues = [-2, -0.5, 0, 1, 4].map((value) => 1 / (1 + Math.exp(-value)));
    expectClose(sigmoid(x).dataSync(), sigmoidValues, 6e-8);
    expectClose(
      silu(x).dataSync(),
      sigmoidValues.map((value, index) => value * [-2, -0.5, 0, 1, 4][index]!),
      3e-7,
    );
    expect(clamp(x, -1, 1).toArray()).toEqual([-1, -0.5, 0, 1, 1]);
    expect(Number.isNaN(clamp(tensor([Number.NaN], [1]), 0, 1).item())).toBe(true);
    expect(() => clamp(x, 1, -1)).toThrow(TensorArgumentError);
  });
});

describe("reductions", () => {
  const t = tensor([1, 5, 3, 4, 2, 6], [2, 3]);
  it("sums, averages and finds maxima over an axis or everything", () => {
    expect(sum(t).item()).toBe(21);
    expect(sum(t, 0).toArray()).toEqual([5, 7, 9]);
    expect(sum(t, -1).toArray()).toEqual([9, 12]);
    expect(sum(t, 1, true).shape).toEqual([2, 1]);
    expect(mean(t, 1).toArray()).toEqual([3, 4]);
    expect(mean(t).item()).toBe(3.5);
    expect(max(t, 1).toArray()).toEqual([5, 6]);
    expect(max(t).item()).toBe(6);
    const indices = argmax(t, 1);
    expect(indices.dtype).toBe("int32");
    expect(indices.toArray()).toEqual([1, 2]);
    expect(argmax(t).item()).toBe(5);
    expect(argmax(tensor([3, 3, 1], [3])).item()).toBe(0);
    expect(Number.isNaN(max(tensor([1, Number.NaN, 2], [3])).item())).toBe(true);
  });

  it("rejects an axis past the rank", () => {
    expect(() => sum(t, 2)).toThrow("sum: axis 2 is out of range for shape [2, 3] (rank 2)");
  });
});

describe("softmax, RMS norm and rotary embedding", () => {
  it("softmax is exp(x − max)/Σ over the last axis and survives large logits", () => {
    const result = softmax(tensor([1, 2, 3, 1000, 1000, -1000], [2, 3])).dataSync();
    const denominator = Math.exp(-2) + Math.exp(-1) + 1;
    expectClose(
      result,
      [Math.exp(-2) / denominator, Math.exp(-1) / denominator, 1 / denominator, 0.5, 0.5, 0],
      6e-8,
    );
  });

  it("rmsNorm is weight · x · rsqrt(mean(x²) + eps) (LlamaRMSNorm)", () => {
    const x = tensor([1, 2, 3, 4, -1, 0, 1, 0], [2, 4]);
    const weight = tensor([1, 0.5, 2, 1], [4]);
    const epsilon = 1e-5;
    const expected = [
      ...[1, 2, 3, 4].map((value, index) => (value / Math.sqrt(7.5 + epsilon)) * [1, 0.5, 2, 1][index]!),
      ...[-1, 0, 1, 0].map((value, index) => (value / Math.sqrt(0.5 + epsilon)) * [1, 0.5, 2, 1][index]!),
    ];
    // float32 steps as torch: a few ulp of values ≤ 2.2.
    expectClose(rmsNorm(x, weight, epsilon).dataSync(), expected, 1e-6);
    expect(() => rmsNorm(x, ones([3]), epsilon)).toThrow("rmsNorm: weight [3] must be [4] for x [2, 4]");
  });

  it("rotaryTables follow inv_freq = 1/θ^(2i/d), emb = [freqs, freqs]", () => {
    const { cos, sin } = rotaryTables([0, 5], 4, 10000);
    expect(cos.shape).toEqual([2, 4]);
    const inverse = [1, 1 / 100];
    const angles = [0, 0, 0, 0, 5 * inverse[0]!, 5 * inverse[1]!, 5 * inverse[0]!, 5 * inverse[1]!];
    // Angles are computed in float32 as torch: relative error ≤ 2⁻²⁴ on angles ≤ 5 ⇒ ≤ 3e-7 after cos/sin.
    expectClose(cos.dataSync(), angles.map(Math.cos), 5e-7);
    expectClose(sin.dataSync(), angles.map(Math.sin), 5e-7);
  });

  it("applyRotaryEmbedding is x·cos + rotate_half(x)·sin", () => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 4]);
    const cos = tensor([0.5, 0.25, 0.5, 0.25, 1, 1, 1, 1], [2, 4]);
    const sin = tensor([0.5, 0.75, 0.5, 0.75, 0, 0, 0, 0], [2, 4]);
    // rotate_half([1, 2, 3, 4]) = [-3, -4, 1, 2]
    expect(applyRotaryEmbedding(x, cos, sin).toArray()).toEqual([
      1 * 0.5 - 3 * 0.5,
      2 * 0.25 - 4 * 0.75,
      3 * 0.5 + 1 * 0.5,
      4 * 0.25 + 2 * 0.75,
      5,
      6,
      7,
      8,
    ]);
    expect(() => applyRotaryEmbedding(zeros([1, 3, 4]), cos, sin)).toThrow(ShapeError);
  });
});

describe("layout ops", () => {
  const t = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
  it("reshapes without copying and infers -1", () => {
    expect(reshape(t, [3, -1]).shape).toEqual([3, 2]);
    expect(reshape(t, [6]).toArray()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => reshape(t, [4, 2])).toThrow("reshape: cannot reshape [2, 3] (6 elements) to [4, 2]");
  });

  it("transposes matrices and permutes axes", () => {
    expect(transpose(t).toArray()).toEqual([0, 3, 1, 4, 2, 5]);
    const cube = arange(0, 24);
    const permuted = transpose(reshape(cube, [2, 3, 4]), [2, 0, 1]);
    expect(permuted.shape).toEqual([4, 2, 3]);
    // output[i, j, k] = input[j, k, i] = 12j + 4k + i
    expect(permuted.toArray().slice(0, 7)).toEqual([0, 4, 8, 12, 16, 20, 1]);
    expect(() => transpose(t, [0, 0])).toThrow(TensorArgumentError);
  });

  it("slices boxes and rejects boxes outside the tensor", () => {
    expect(slice(t, [0, 1], [2, 2]).toArray()).toEqual([1, 2, 4, 5]);
    expect(slice(t, [1]).toArray()).toEqual([3, 4, 5]);
    expect(() => slice(t, [1, 2], [1, 2])).toThrow(
      "slice: begin [1, 2] size [1, 2] is outside [2, 3] on axis 1",
    );
  });

  it("concatenates along any axis", () => {
    expect(concat([t, t], 0).shape).toEqual([4, 3]);
    expect(concat([t, tensor([9, 9], [2, 1])], 1).toArray()).toEqual([0, 1, 2, 9, 3, 4, 5, 9]);
    expect(() => concat([t, zeros([3, 3])], 1)).toThrow(
      "concat: shapes [2, 3] float32, [3, 3] float32 do not agree outside axis 1",
    );
  });

  it("gathers rows by int32 indices of any shape", () => {
    const table = tensor([0, 0, 1, 1, 2, 2], [3, 2]);
    const rows = gather(table, tensor([2, 0, 1, 2], [2, 2], "int32"));
    expect(rows.shape).toEqual([2, 2, 2]);
    expect(rows.toArray()).toEqual([2, 2, 0, 0, 1, 1, 2, 2]);
    expect(() => gather(table, tensor([0], [1]))).toThrow(DTypeError);
    expect(() => gather(table, tensor([3], [1], "int32"))).toThrow(
      "gather index 3 at position 0 is outside the table's 3 rows",
    );
  });

  it("casts between float32 and int32", () => {
    expect(cast(tensor([1.7, -1.7], [2]), "int32").toArray()).toEqual([1, -1]);
    expect(cast(tensor([3], [1], "int32"), "float32").dtype).toBe("float32");
  });
});

describe("matrix helpers and finiteness", () => {
  it("scales rows and columns by a vector", () => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    expect(scaleRows(a, tensor([10, 100], [2])).toArray()).toEqual([10, 20, 300, 400]);
    expect(scaleColumns(a, tensor([10, 100], [2])).toArray()).toEqual([10, 200, 30, 400]);
    expect(() => scaleColumns(a, ones([3]))).toThrow(
      "scaleColumns: v [3] must be [columns] for a 2-D a [2, 2]",
    );
  });

  it("computes the Frobenius norm", () => {
    expect(frobeniusNorm(tensor([3, 4], [1, 2]))).toBe(5);
  });

  it("flags non-finite values", () => {
    const values = tensor([1, Number.NaN, Number.POSITIVE_INFINITY, -1], [4]);
    expect(finiteMask(values).toArray()).toEqual([1, 0, 0, 1]);
    expect(allFinite(values)).toBe(false);
    expect(allFinite(ones([5]))).toBe(true);
  });
});
