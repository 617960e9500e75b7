/**
 * The one table of gradient checks that every backend that trains must pass: for each differentiable op, small
 * shapes, a forward pass on tensors and a float64 reference of the same forward pass. `runGradientCheck`
 * compares the tape's float32 gradient on the active backend with central finite differences of the reference.
 *
 * The checked objective is `L(x) = Σ op(x) ⊙ R` for a fixed random `R` (so every output element matters with
 * a different weight). Finite differences use step h = 1e-6 in float64: truncation error O(h²·L''') ≈ 1e-12 and
 * rounding error O(ε₆₄·|L|/h) ≈ 1e-9, so the numeric gradient is exact to far below float32 resolution. The
 * analytic gradient is float32 arithmetic over at most a few dozen terms of size ≲ 10, whose rounding error is
 * below 1e-5 relative; the default tolerance allows 1e-4 · max(1, max |numeric gradient|) per element (an
 * incorrect rule is off by O(1) relative). The forward pass itself is compared with the float64 reference at
 * 1e-5 · max(1, max |reference|). A case may widen either bound for one backend, with its justification.
 */
import {
  add,
  applyRotaryEmbedding,
  axpy,
  cast,
  clamp,
  concat,
  crossEntropy,
  div,
  exp,
  gather,
  log,
  matmul,
  max,
  mean,
  mul,
  neg,
  reshape,
  rmsNorm,
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
  swiGlu,
  type Tensor,
  transpose,
} from "../index.js";
import {
  type Array64,
  broadcastBinary,
  map,
  referenceConcat,
  referenceCrossEntropy,
  referenceGather,
  referenceMaskedSoftmax,
  referenceMatmul,
  referenceReduce,
  referenceRmsNorm,
  referenceRotary,
  referenceSlice,
  referenceSoftmax,
  referenceTranspose,
  sigmoid64,
} from "./float64-reference.js";

/** How to fill one float input: standard normal, uniform in [0.5, 2] (for sqrt, log, division) or fixed values. */
export type GradientFill = "normal" | "positive" | readonly number[];

/** One input of a gradient case: a differentiated float32 tensor, or an int32 constant (indices, labels). */
export interface GradientInput {
  /** The tensor's shape. */
  readonly shape: readonly number[];
  /** How a float input is filled (default `"normal"`); values are rounded to float32. */
  readonly fill?: GradientFill;
  /** When set, the input is this int32 constant (no gradient is taken). */
  readonly int32?: readonly number[];
}

/**
 * Accepted errors, each relative to a scale: `|forward − reference| ≤ forward · max(1, max |reference|)` and
 * `|analytic − numeric| ≤ gradient · max(1, max |numeric|)` per element of each gradient.
 */
export interface GradientTolerance {
  /** Bound on the forward pass against the float64 reference. */
  readonly forward: number;
  /** Bound on each gradient against the finite differences. */
  readonly gradient: number;
}

/** A tolerance that differs from the default on one backend, with the reason it must. */
export interface JustifiedTolerance extends GradientTolerance {
  /** Why this backend needs it (which arithmetic, how large its error can be). */
  readonly justification: string;
}

/** One gradient check. */
export interface GradientCase {
  /** Unique, human-readable name. */
  readonly name: string;
  /** The inputs, in order; every float input is differentiated. */
  readonly inputs: readonly GradientInput[];
  /** Our forward pass on tensors (the int32 inputs are tensors too, in their places). */
  readonly forward: (inputs: readonly Tensor[]) => Tensor;
  /** The float64 reference on the float inputs, in the order given (int32 inputs are skipped). */
  readonly reference: (inputs: readonly Array64[]) => Array64;
  /** Tolerance on every backend (default {@link defaultGradientTolerance}). */
  readonly tolerance?: GradientTolerance;
  /** Overrides for a backend, by the backend's registered name (e.g. `"gpu"`). */
  readonly backendTolerances?: Readonly<Record<string, JustifiedTolerance>>;
}

/** Forward 1e-5 and gradient 1e-4, relative: see the module comment for the error analysis. */
export const defaultGradientTolerance: GradientTolerance = { forward: 1e-5, gradient: 1e-4 };

/** The tolerance `testCase` is checked at on `backend`. */
export function gradientToleranceFor(testCase: GradientCase, backend: string): GradientTolerance {
  return testCase.backendTolerances?.[backend] ?? testCase.tolerance ?? defaultGradientTolerance;
}

const normal = (shape: readonly number[]): GradientInput => ({ shape, fill: "normal" });
const positive = (shape: readonly number[]): GradientInput => ({ shape, fill: "positive" });

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

/** The broadcasting binary ops, with their float64 counterparts. */
export const binaryGradientOps = {
  add: [add, (x: number, y: number) => x + y],
  sub: [sub, (x: number, y: number) => x - y],
  mul: [mul, (x: number, y: number) => x * y],
  div: [div, (x: number, y: number) => x / y],
} as const;

/** Name of a broadcasting binary op of {@link binaryGradientOps}. */
export type BinaryGradientOp = keyof typeof binaryGradientOps;

/**
 * A gradient case for `op(a, b)` with operands of the given (broadcast-compatible) shapes; the divisor of
 * `div` is drawn from [0.5, 2]. Used by the table and by property tests over random shape pairs.
 */
export function binaryGradientCase(
  op: BinaryGradientOp,
  aShape: readonly number[],
  bShape: readonly number[],
): GradientCase {
  const [forward, combine] = binaryGradientOps[op];
  return {
    name: `${op} [${aShape}] with [${bShape}]`,
    inputs: [normal(aShape), op === "div" ? positive(bShape) : normal(bShape)],
    forward: ([a, b]) => forward(a!, b!),
    reference: ([a, b]) => broadcastBinary(a!, b!, combine),
  };
}

const rotaryCos = Array.from({ length: 3 * 4 }, (_, index) => Math.cos(0.3 * index + 0.1));
const rotarySin = Array.from({ length: 3 * 4 }, (_, index) => Math.sin(0.7 * index - 0.2));

/** Every differentiable op, on small shapes, with every transpose and broadcasting combination that matters. */
export const gradientCheckCases: readonly GradientCase[] = [
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
  binaryGradientCase("add", [2, 3], [2, 3]),
  binaryGradientCase("add", [2, 3, 4], [4]),
  binaryGradientCase("add", [2, 1, 4], [3, 1]),
  binaryGradientCase("sub", [3, 1], [2, 1, 4]),
  binaryGradientCase("mul", [2, 3, 4], [1, 3, 1]),
  binaryGradientCase("mul", [], [2, 3]),
  binaryGradientCase("div", [2, 3], [3]),
  binaryGradientCase("div", [3, 1], [1, 4]),
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
    name: "softmax fused with a scale, an additive mask and a causal mask (x and mask)",
    inputs: [normal([2, 3, 5]), normal([3, 5])],
    forward: ([x, mask]) => softmax(x!, { scale: 0.7, mask: mask!, causal: true }),
    reference: ([x, mask]) => referenceMaskedSoftmax(x!, 0.7, mask!, true),
  },
  {
    name: "swiGlu (gate and up)",
    inputs: [normal([3, 5]), normal([3, 5])],
    forward: ([gate, up]) => swiGlu(gate!, up!),
    reference: ([gate, up]) => broadcastBinary(gate!, up!, (g, u) => g * sigmoid64(g) * u),
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
    // torch's rule: the gradient of a cast to bfloat16 is the upstream gradient (straight through the rounding).
    name: "cast to bfloat16 passes the gradient through",
    inputs: [normal([2, 3]), normal([2, 3])],
    forward: ([a, b]) => mul(cast(a!, "bfloat16"), b!),
    reference: ([a, b]) => broadcastBinary(a!, b!, (x, y) => x * y),
    // The reference does not round a to bfloat16: the forward pass and the gradient of b (which is the rounded
    // a) differ from it by one bfloat16 rounding, 2⁻⁹ ≈ 2e-3 relative; the gradient of a is exact.
    tolerance: { forward: 4e-3, gradient: 4e-3 },
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
