/**
 * Gradient checks: for every differentiable op, the gradient our tape computes (float32, on each backend
 * that trains in Node) is compared with central finite differences of a float64 re-implementation of the op's
 * forward pass, on small shapes.
 *
 * The checked objective is `L(x) = Σ op(x) ⊙ R` for a fixed random `R` (so every output element matters with
 * a different weight). Finite differences use step h = 1e-6 in float64: truncation error O(h²·L''') ≈ 1e-12 and
 * rounding error O(ε₆₄·|L|/h) ≈ 1e-9, so the numeric gradient is exact to far below float32 resolution. The
 * analytic gradient is float32 arithmetic over at most a few dozen terms of size ≲ 10, whose rounding error is
 * below 1e-5 relative; we allow 1e-4 · max(1, max |numeric gradient|) per element (an incorrect rule is off by
 * O(1) relative). The forward pass itself is compared with the float64 reference at 1e-5 relative.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  add,
  applyRotaryEmbedding,
  axpy,
  cast,
  clamp,
  concat,
  crossEntropy,
  dispose,
  div,
  exp,
  gather,
  log,
  matmul,
  max,
  mean,
  memory,
  mul,
  neg,
  probeBackends,
  reshape,
  rmsNorm,
  scale,
  scaleColumns,
  scaleRows,
  setBackend,
  sigmoid,
  silu,
  slice,
  softmax,
  sqrt,
  sub,
  sum,
  type Tensor,
  tensor,
  transpose,
  valueAndGradients,
} from "../src/index.js";

/** A float64 array with a shape: the reference implementations' value type. */
interface Array64 {
  readonly values: Float64Array;
  readonly shape: readonly number[];
}

const sizeOf = (shape: readonly number[]) => shape.reduce((product, extent) => product * extent, 1);

/** Strides of a row-major shape. */
function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let axis = shape.length - 2; axis >= 0; axis--) strides[axis] = strides[axis + 1]! * shape[axis + 1]!;
  return strides;
}

/** Multi-index of flat position `index` in `shape`. */
function unravel(index: number, shape: readonly number[]): number[] {
  const coordinates = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    coordinates[axis] = index % shape[axis]!;
    index = Math.floor(index / shape[axis]!);
  }
  return coordinates;
}

// ---- float64 reference forward passes ----

function broadcastBinary(a: Array64, b: Array64, combine: (x: number, y: number) => number): Array64 {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pad = (shape: readonly number[]) => [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const aShape = pad(a.shape);
  const bShape = pad(b.shape);
  const shape = aShape.map((extent, axis) => Math.max(extent, bShape[axis]!));
  const aStrides = stridesOf(aShape);
  const bStrides = stridesOf(bShape);
  const values = new Float64Array(sizeOf(shape));
  for (let index = 0; index < values.length; index++) {
    const coordinates = unravel(index, shape);
    let aIndex = 0;
    let bIndex = 0;
    coordinates.forEach((coordinate, axis) => {
      if (aShape[axis] !== 1) aIndex += coordinate * aStrides[axis]!;
      if (bShape[axis] !== 1) bIndex += coordinate * bStrides[axis]!;
    });
    values[index] = combine(a.values[aIndex]!, b.values[bIndex]!);
  }
  return { values, shape };
}

const map = (a: Array64, f: (x: number) => number): Array64 => ({ values: a.values.map(f), shape: a.shape });

function referenceMatmul(a: Array64, b: Array64, transposeA: boolean, transposeB: boolean): Array64 {
  const [aRows, aColumns] = a.shape.slice(-2) as [number, number];
  const [bRows, bColumns] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? aColumns : aRows;
  const k = transposeA ? aRows : aColumns;
  const n = transposeB ? bRows : bColumns;
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  const batchShape = a.shape.length > 2 ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const values = new Float64Array(batch * m * n);
  for (let item = 0; item < batch; item++) {
    const aOffset = (batchA === 1 ? 0 : item) * aRows * aColumns;
    const bOffset = (batchB === 1 ? 0 : item) * bRows * bColumns;
    for (let row = 0; row < m; row++) {
      for (let column = 0; column < n; column++) {
        let total = 0;
        for (let inner = 0; inner < k; inner++) {
          const aValue = a.values[aOffset + (transposeA ? inner * aColumns + row : row * aColumns + inner)]!;
          const bValue =
            b.values[bOffset + (transposeB ? column * bColumns + inner : inner * bColumns + column)]!;
          total += aValue * bValue;
        }
        values[(item * m + row) * n + column] = total;
      }
    }
  }
  return { values, shape: [...batchShape, m, n] };
}

function referenceReduce(
  a: Array64,
  axis: number | undefined,
  combine: (slice: number[]) => number,
  keepDims = false,
): Array64 {
  const outer = axis === undefined ? 1 : sizeOf(a.shape.slice(0, axis));
  const reduced = axis === undefined ? sizeOf(a.shape) : a.shape[axis]!;
  const inner = axis === undefined ? 1 : sizeOf(a.shape.slice(axis + 1));
  const values = new Float64Array(outer * inner);
  for (let outerIndex = 0; outerIndex < outer; outerIndex++) {
    for (let innerIndex = 0; innerIndex < inner; innerIndex++) {
      const items: number[] = [];
      for (let index = 0; index < reduced; index++)
        items.push(a.values[(outerIndex * reduced + index) * inner + innerIndex]!);
      values[outerIndex * inner + innerIndex] = combine(items);
    }
  }
  const shape =
    axis === undefined
      ? keepDims
        ? a.shape.map(() => 1)
        : []
      : keepDims
        ? a.shape.map((extent, index) => (index === axis ? 1 : extent))
        : a.shape.filter((_, index) => index !== axis);
  return { values, shape };
}

/** Applies `f` to each row of the last axis. */
function rowwise(a: Array64, f: (row: Float64Array, rowIndex: number) => Float64Array): Array64 {
  const columns = a.shape[a.shape.length - 1]!;
  const values = new Float64Array(a.values.length);
  for (let row = 0; row * columns < a.values.length; row++) {
    values.set(f(a.values.subarray(row * columns, (row + 1) * columns), row), row * columns);
  }
  return { values, shape: a.shape };
}

const referenceSoftmax = (a: Array64) =>
  rowwise(a, (row) => {
    const largest = Math.max(...row);
    const exponentials = row.map((value) => Math.exp(value - largest));
    const total = exponentials.reduce((sum, value) => sum + value, 0);
    return exponentials.map((value) => value / total);
  });

function referenceRmsNorm(x: Array64, weight: Array64, epsilon: number): Array64 {
  return rowwise(x, (row) => {
    const meanSquare = row.reduce((sum, value) => sum + value * value, 0) / row.length;
    const reciprocal = 1 / Math.sqrt(meanSquare + epsilon);
    return row.map((value, index) => value * reciprocal * weight.values[index]!);
  });
}

function referenceRotary(x: Array64, cos: Array64, sin: Array64): Array64 {
  const [sequence, headDim] = x.shape.slice(-2) as [number, number];
  const half = headDim / 2;
  return rowwise(x, (row, rowIndex) => {
    const position = rowIndex % sequence;
    return row.map((value, index) => {
      const rotated = index < half ? -row[index + half]! : row[index - half]!;
      return (
        value * cos.values[position * headDim + index]! + rotated * sin.values[position * headDim + index]!
      );
    });
  });
}

function referenceTranspose(a: Array64, permutation: readonly number[]): Array64 {
  const shape = permutation.map((axis) => a.shape[axis]!);
  const strides = stridesOf(a.shape);
  const values = new Float64Array(a.values.length);
  for (let index = 0; index < values.length; index++) {
    const coordinates = unravel(index, shape);
    let source = 0;
    coordinates.forEach((coordinate, axis) => {
      source += coordinate * strides[permutation[axis]!]!;
    });
    values[index] = a.values[source]!;
  }
  return { values, shape };
}

function referenceSlice(a: Array64, begin: readonly number[], size: readonly number[]): Array64 {
  const strides = stridesOf(a.shape);
  const values = new Float64Array(sizeOf(size));
  for (let index = 0; index < values.length; index++) {
    const coordinates = unravel(index, size);
    let source = 0;
    coordinates.forEach((coordinate, axis) => {
      source += (coordinate + begin[axis]!) * strides[axis]!;
    });
    values[index] = a.values[source]!;
  }
  return { values, shape: size };
}

function referenceConcat(parts: readonly Array64[], axis: number): Array64 {
  const outer = sizeOf(parts[0]!.shape.slice(0, axis));
  const shape = [...parts[0]!.shape];
  shape[axis] = parts.reduce((sum, part) => sum + part.shape[axis]!, 0);
  const values: number[] = [];
  for (let outerIndex = 0; outerIndex < outer; outerIndex++) {
    for (const part of parts) {
      const width = part.values.length / outer;
      values.push(...part.values.subarray(outerIndex * width, (outerIndex + 1) * width));
    }
  }
  return { values: Float64Array.from(values), shape };
}

function referenceGather(table: Array64, indices: readonly number[], indexShape: readonly number[]): Array64 {
  const columns = table.shape[1]!;
  const values = new Float64Array(indices.length * columns);
  indices.forEach((row, index) => {
    values.set(table.values.subarray(row * columns, (row + 1) * columns), index * columns);
  });
  return { values, shape: [...indexShape, columns] };
}

function referenceCrossEntropy(logits: Array64, labels: readonly number[], ignoreIndex = -100): Array64 {
  let total = 0;
  let counted = 0;
  const logProbabilities = rowwise(logits, (row) => {
    const largest = Math.max(...row);
    const logSum = Math.log(row.reduce((sum, value) => sum + Math.exp(value - largest), 0));
    return row.map((value) => value - largest - logSum);
  });
  const classes = logits.shape[1]!;
  labels.forEach((label, row) => {
    if (label === ignoreIndex) return;
    total -= logProbabilities.values[row * classes + label]!;
    counted++;
  });
  return { values: Float64Array.of(total / counted), shape: [] };
}

const sigmoid64 = (value: number) => 1 / (1 + Math.exp(-value));

// ---- the cases ----

/** How to fill one input: standard normal, uniform in [0.5, 2] (for sqrt, log, division) or fixed values. */
type Fill = "normal" | "positive" | readonly number[];

interface InputSpec {
  readonly shape: readonly number[];
  readonly fill?: Fill;
  /** int32 inputs (indices, labels) are constants. */
  readonly int32?: readonly number[];
}

interface GradientCase {
  readonly name: string;
  readonly inputs: readonly InputSpec[];
  /** Our forward pass on tensors (the int32 inputs are tensors too). */
  readonly forward: (inputs: readonly Tensor[]) => Tensor;
  /** The float64 reference on the float inputs, in the order given (int32 inputs are skipped). */
  readonly reference: (inputs: readonly Array64[]) => Array64;
}

const normal = (shape: readonly number[]): InputSpec => ({ shape, fill: "normal" });
const positive = (shape: readonly number[]): InputSpec => ({ shape, fill: "positive" });

function matmulCase(
  aShape: number[],
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
): GradientCase {
  return {
    name: `matmul [${aShape}]${transposeA ? "ᵀ" : ""} · [${bShape}]${transposeB ? "ᵀ" : ""}`,
    inputs: [normal(aShape), normal(bShape)],
    forward: ([a, b]) => matmul(a!, b!, { transposeA, transposeB }),
    reference: ([a, b]) => referenceMatmul(a!, b!, transposeA, transposeB),
  };
}

function binaryCase(
  name: "add" | "sub" | "mul" | "div",
  aShape: number[],
  bShape: number[],
  op: (a: Tensor, b: Tensor) => Tensor,
  combine: (x: number, y: number) => number,
): GradientCase {
  return {
    name: `${name} [${aShape}] with [${bShape}]`,
    inputs: [normal(aShape), name === "div" ? positive(bShape) : normal(bShape)],
    forward: ([a, b]) => op(a!, b!),
    reference: ([a, b]) => broadcastBinary(a!, b!, combine),
  };
}

const rotaryCos = Array.from({ length: 3 * 4 }, (_, index) => Math.cos(0.3 * index + 0.1));
const rotarySin = Array.from({ length: 3 * 4 }, (_, index) => Math.sin(0.7 * index - 0.2));

const cases: GradientCase[] = [
  // Every transpose combination, 2-D and batched; batched × shared 2-D on either side.
  ...[false, true].flatMap((transposeA) =>
    [false, true].flatMap((transposeB) => [
      matmulCase(transposeA ? [4, 3] : [3, 4], transposeB ? [2, 4] : [4, 2], transposeA, transposeB),
      matmulCase(
        transposeA ? [2, 4, 3] : [2, 3, 4],
        transposeB ? [2, 2, 4] : [2, 4, 2],
        transposeA,
        transposeB,
      ),
      matmulCase(
        transposeA ? [2, 2, 4, 3] : [2, 2, 3, 4],
        transposeB ? [2, 4] : [4, 2],
        transposeA,
        transposeB,
      ),
      matmulCase(transposeA ? [4, 3] : [3, 4], transposeB ? [3, 2, 4] : [3, 4, 2], transposeA, transposeB),
    ]),
  ),
  binaryCase("add", [2, 3], [2, 3], add, (x, y) => x + y),
  binaryCase("add", [2, 3, 4], [4], add, (x, y) => x + y),
  binaryCase("add", [2, 1, 4], [3, 1], add, (x, y) => x + y),
  binaryCase("sub", [3, 1], [2, 1, 4], sub, (x, y) => x - y),
  binaryCase("mul", [2, 3, 4], [1, 3, 1], mul, (x, y) => x * y),
  binaryCase("mul", [], [2, 3], mul, (x, y) => x * y),
  binaryCase("div", [2, 3], [3], div, (x, y) => x / y),
  binaryCase("div", [3, 1], [1, 4], div, (x, y) => x / y),
  {
    name: "mul of a tensor with itself",
    inputs: [normal([2, 3])],
    forward: ([a]) => mul(a!, a!),
    reference: ([a]) => map(a!, (x) => x * x),
  },
  {
    name: "number operands: (3 - a) / 2 + 5 · a, 1 / b",
    inputs: [normal([2, 3]), positive([3])],
    forward: ([a, b]) => add(add(div(sub(3, a!), 2), mul(5, a!)), div(1, b!)),
    reference: ([a, b]) =>
      broadcastBinary(
        map(a!, (x) => (3 - x) / 2 + 5 * x),
        b!,
        (x, y) => x + 1 / y,
      ),
  },
  {
    name: "scale, neg, axpy",
    inputs: [normal([2, 3]), normal([2, 3])],
    forward: ([a, b]) => axpy(0.5, neg(scale(a!, 3)), b!),
    reference: ([a, b]) => broadcastBinary(a!, b!, (x, y) => 0.5 * -(3 * x) + y),
  },
  {
    name: "sqrt",
    inputs: [positive([2, 3])],
    forward: ([a]) => sqrt(a!),
    reference: ([a]) => map(a!, Math.sqrt),
  },
  { name: "exp", inputs: [normal([2, 3])], forward: ([a]) => exp(a!), reference: ([a]) => map(a!, Math.exp) },
  {
    name: "log",
    inputs: [positive([2, 3])],
    forward: ([a]) => log(a!),
    reference: ([a]) => map(a!, Math.log),
  },
  {
    name: "silu",
    inputs: [normal([2, 5])],
    forward: ([a]) => silu(a!),
    reference: ([a]) => map(a!, (x) => x * sigmoid64(x)),
  },
  {
    name: "sigmoid",
    inputs: [normal([2, 5])],
    forward: ([a]) => sigmoid(a!),
    reference: ([a]) => map(a!, sigmoid64),
  },
  {
    // Fixed values away from the bounds: finite differences across the kink would be meaningless.
    name: "clamp",
    inputs: [{ shape: [2, 3], fill: [-2, -0.5, 0.2, 0.7, 1.5, 3] }],
    forward: ([a]) => clamp(a!, -1, 1),
    reference: ([a]) => map(a!, (x) => Math.min(Math.max(x, -1), 1)),
  },
  {
    name: "sum over axis 1 and everything",
    inputs: [normal([2, 3, 4])],
    forward: ([a]) => add(sum(a!, 1), sum(a!)),
    reference: ([a]) =>
      broadcastBinary(
        referenceReduce(a!, 1, (items) => items.reduce((s, v) => s + v, 0)),
        referenceReduce(a!, undefined, (items) => items.reduce((s, v) => s + v, 0)),
        (x, y) => x + y,
      ),
  },
  {
    name: "mean over axis -1 (keepDims) and everything",
    inputs: [normal([2, 3, 4])],
    forward: ([a]) => add(mean(a!, -1, true), mean(a!)),
    reference: ([a]) =>
      broadcastBinary(
        referenceReduce(a!, 2, (items) => items.reduce((s, v) => s + v, 0) / items.length, true),
        referenceReduce(a!, undefined, (items) => items.reduce((s, v) => s + v, 0) / items.length),
        (x, y) => x + y,
      ),
  },
  {
    name: "max over axis 0, axis -1 (keepDims) and everything",
    inputs: [normal([3, 4])],
    forward: ([a]) => add(add(max(a!, 0), max(a!, -1, true)), max(a!)),
    reference: ([a]) =>
      broadcastBinary(
        broadcastBinary(
          referenceReduce(a!, 0, (items) => Math.max(...items)),
          referenceReduce(a!, 1, (items) => Math.max(...items), true),
          (x, y) => x + y,
        ),
        referenceReduce(a!, undefined, (items) => Math.max(...items)),
        (x, y) => x + y,
      ),
  },
  {
    name: "softmax over the last axis",
    inputs: [normal([2, 3, 5])],
    forward: ([a]) => softmax(a!),
    reference: ([a]) => referenceSoftmax(a!),
  },
  {
    name: "rmsNorm (x and weight)",
    inputs: [normal([2, 3, 6]), normal([6])],
    forward: ([x, weight]) => rmsNorm(x!, weight!, 1e-5),
    reference: ([x, weight]) => referenceRmsNorm(x!, weight!, 1e-5),
  },
  {
    // Tables whose halves differ, so the rotate-half adjoint is checked in general, not only for rotaryTables.
    name: "applyRotaryEmbedding (x, cos and sin)",
    inputs: [normal([2, 2, 3, 4]), { shape: [3, 4], fill: rotaryCos }, { shape: [3, 4], fill: rotarySin }],
    forward: ([x, cos, sin]) => applyRotaryEmbedding(x!, cos!, sin!),
    reference: ([x, cos, sin]) => referenceRotary(x!, cos!, sin!),
  },
  {
    name: "gather with repeated rows (scatter-add)",
    inputs: [normal([5, 3]), { shape: [2, 3], int32: [4, 0, 4, 2, 4, 0] }],
    forward: ([table, indices]) => gather(table!, indices!),
    reference: ([table]) => referenceGather(table!, [4, 0, 4, 2, 4, 0], [2, 3]),
  },
  {
    name: "reshape and transpose",
    inputs: [normal([2, 3, 4])],
    forward: ([a]) => transpose(reshape(a!, [4, 3, 2]), [2, 0, 1]),
    reference: ([a]) => referenceTranspose({ values: a!.values, shape: [4, 3, 2] }, [2, 0, 1]),
  },
  {
    name: "slice",
    inputs: [normal([3, 4, 5])],
    forward: ([a]) => slice(a!, [1, 0, 2], [2, -1, 2]),
    reference: ([a]) => referenceSlice(a!, [1, 0, 2], [2, 4, 2]),
  },
  {
    name: "concat along axis 1 (one input used twice)",
    inputs: [normal([2, 1, 3]), normal([2, 2, 3])],
    forward: ([a, b]) => concat([a!, b!, a!], 1),
    reference: ([a, b]) => referenceConcat([a!, b!, a!], 1),
  },
  {
    name: "cast float32 to float32",
    inputs: [normal([2, 2])],
    forward: ([a]) => cast(a!, "float32"),
    reference: ([a]) => a!,
  },
  {
    name: "scaleRows and scaleColumns",
    inputs: [normal([3, 4]), normal([3]), normal([4])],
    forward: ([a, rows, columns]) => scaleColumns(scaleRows(a!, rows!), columns!),
    reference: ([a, rows, columns]) =>
      broadcastBinary(
        broadcastBinary(a!, { values: rows!.values, shape: [3, 1] }, (x, y) => x * y),
        columns!,
        (x, y) => x * y,
      ),
  },
  {
    name: "crossEntropy with an ignored row",
    inputs: [normal([4, 5]), { shape: [4], int32: [1, -100, 4, 0] }],
    forward: ([logits, labels]) => crossEntropy(logits!, labels!),
    reference: ([logits]) => referenceCrossEntropy(logits!, [1, -100, 4, 0]),
  },
  {
    // A miniature attention block: every piece of a Llama layer in one chain.
    name: "attention-like composite",
    inputs: [
      normal([2, 3, 4]),
      normal([4, 4]),
      normal([4]),
      { shape: [3, 4], fill: rotaryCos },
      { shape: [3, 4], fill: rotarySin },
    ],
    forward: ([x, w, g, cos, sin]) => {
      const h = rmsNorm(x!, g!, 1e-6);
      const q = applyRotaryEmbedding(matmul(h, w!, { transposeB: true }), cos!, sin!);
      const scores = softmax(scale(matmul(q, h, { transposeB: true }), 0.5));
      return add(x!, silu(matmul(scores, h)));
    },
    reference: ([x, w, g, cos, sin]) => {
      const h = referenceRmsNorm(x!, g!, 1e-6);
      const q = referenceRotary(referenceMatmul(h, w!, false, true), cos!, sin!);
      const scores = referenceSoftmax(map(referenceMatmul(q, h, false, true), (value) => value * 0.5));
      return broadcastBinary(
        x!,
        map(referenceMatmul(scores, h, false, false), (v) => v * sigmoid64(v)),
        (a, b) => a + b,
      );
    },
  },
];

// ---- the checker ----

/** mulberry32: a tiny seeded generator for test inputs. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fillValues(spec: InputSpec, random: () => number): Float64Array {
  const size = sizeOf(spec.shape);
  const fill = spec.fill ?? "normal";
  if (typeof fill !== "string") return Float64Array.from(fill, Math.fround);
  return Float64Array.from({ length: size }, () => {
    if (fill === "positive") return Math.fround(0.5 + 1.5 * random());
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    return Math.fround(radius * Math.cos(2 * Math.PI * random()));
  });
}

const objective = (output: Array64, weights: Float64Array) =>
  output.values.reduce((total, value, index) => total + value * weights[index]!, 0);

function checkCase(testCase: GradientCase, seed: number): void {
  const random = seededRandom(seed);
  const floatSpecs = testCase.inputs.filter((spec) => spec.int32 === undefined);
  const values = floatSpecs.map((spec) => fillValues(spec, random));
  const referenceInputs = () =>
    floatSpecs.map((spec, index) => ({ values: values[index]!, shape: spec.shape }));
  const expectedOutput = testCase.reference(referenceInputs());
  const weights = Float64Array.from({ length: expectedOutput.values.length }, () =>
    Math.fround(random() * 2 - 1),
  );

  let floatIndex = 0;
  const tensors = testCase.inputs.map((spec) =>
    spec.int32 !== undefined
      ? tensor(Int32Array.from(spec.int32), spec.shape)
      : tensor(values[floatIndex++]!, spec.shape),
  );
  const parameters = tensors.filter((_, index) => testCase.inputs[index]!.int32 === undefined);
  const weightTensor = tensor(weights, expectedOutput.shape);
  let output: number[] = [];
  const { value, gradients } = valueAndGradients(() => {
    const result = testCase.forward(tensors);
    output = result.toArray();
    return sum(mul(result, weightTensor));
  }, parameters);

  // Forward agrees with the float64 reference (float32 rounding only).
  expect(output.length).toBe(expectedOutput.values.length);
  const outputScale = Math.max(1, ...expectedOutput.values.map(Math.abs));
  output.forEach((actual, index) => {
    expect(Math.abs(actual - expectedOutput.values[index]!)).toBeLessThanOrEqual(1e-5 * outputScale);
  });

  const step = 1e-6;
  gradients.forEach((gradient, parameterIndex) => {
    const analytic = gradient.toArray();
    const input = values[parameterIndex]!;
    const numeric = Array.from(input, (original, index) => {
      input[index] = original + step;
      const above = objective(testCase.reference(referenceInputs()), weights);
      input[index] = original - step;
      const below = objective(testCase.reference(referenceInputs()), weights);
      input[index] = original;
      return (above - below) / (2 * step);
    });
    const gradientScale = Math.max(1, ...numeric.map(Math.abs));
    numeric.forEach((expected, index) => {
      const difference = Math.abs(analytic[index]! - expected);
      if (difference > 1e-4 * gradientScale) {
        throw new Error(
          `${testCase.name}: input #${parameterIndex} element ${index}: analytic ${analytic[index]} vs numeric ${expected}`,
        );
      }
    });
  });
  dispose([value, gradients, tensors, weightTensor]);
}

const trainingBackends = (await probeBackends())
  .filter((info) => info.availability?.available)
  .map((info) => info.name);

describe.each(trainingBackends)(
  "gradient checks on %s (float32 autograd vs float64 finite differences)",
  (backend) => {
    beforeAll(async () => {
      await setBackend(backend);
    });
    afterAll(async () => {
      await setBackend("js");
    });

    it("includes wasm among the backends checked in Node", () => {
      expect(trainingBackends).toEqual(expect.arrayContaining(["js", "wasm"]));
    });

    it("broadcasting binary ops on random shape pairs (fast-check)", () => {
      // A result shape of rank ≤ 3; each operand drops some leading axes and sets some others to 1.
      const operand = (shape: readonly number[]) =>
        fc
          .tuple(
            fc.integer({ min: 0, max: shape.length }),
            fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
          )
          .map(([dropped, ones]) =>
            shape.slice(dropped).map((extent, axis) => (ones[axis + dropped] ? 1 : extent)),
          );
      const pair = fc
        .array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 })
        .chain((shape) => fc.tuple(operand(shape), operand(shape)));
      const operations = {
        add: [add, (x: number, y: number) => x + y],
        sub: [sub, (x: number, y: number) => x - y],
        mul: [mul, (x: number, y: number) => x * y],
        div: [div, (x: number, y: number) => x / y],
      } as const;
      fc.assert(
        fc.property(
          pair,
          fc.constantFrom("add", "sub", "mul", "div") as fc.Arbitrary<keyof typeof operations>,
          ([aShape, bShape], name) => {
            const [op, combine] = operations[name];
            checkCase(binaryCase(name, aShape, bShape, op, combine), 7);
          },
        ),
        { numRuns: 40, seed: 20261128 },
      );
    });

    cases.forEach((testCase, caseIndex) => {
      it(testCase.name, () => {
        const before = memory().tensors;
        checkCase(testCase, 1000 + caseIndex);
        expect(memory().tensors).toBe(before);
      });
    });
  },
);
