/**
 * The one table of op cases that every backend must reproduce. Each case builds its inputs from a seeded
 * Philox generator (so the numbers are identical on every backend), runs public ops on the active backend,
 * and returns a tensor or a number. `runConformanceCase` runs a case on `js` and on the backend under test
 * and compares at the case's stated tolerance. Cases with `expectedError` must throw that error everywhere.
 */
import {
  add,
  allFinite,
  allFiniteAsync,
  applyRotaryEmbedding,
  argmax,
  axpy,
  cast,
  clamp,
  concat,
  createGenerator,
  crossEntropy,
  div,
  exp,
  isFinite as finiteMask,
  frobeniusNorm,
  frobeniusNormAsync,
  gather,
  log,
  matmul,
  max,
  mean,
  mul,
  neg,
  type RandomGenerator,
  reshape,
  rmsNorm,
  rotaryTables,
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
  tensor,
  tidy,
  transpose,
  valueAndGradients,
} from "../index.js";

/** Accepted difference: `|actual − expected| ≤ absolute + relative·|expected|`, elementwise. */
export interface Tolerance {
  /** Absolute part. */
  readonly absolute: number;
  /** Relative part. */
  readonly relative: number;
}

/** Inputs for a case: a seeded generator plus shortcuts. */
export interface CaseInputs {
  /** The case's own generator (seeded from the case's name). */
  readonly random: RandomGenerator;
  /** Uniform float32 tensor in `[low, high)` (default `[-1, 1)`). */
  uniform(shape: readonly number[], low?: number, high?: number): Tensor;
  /** int32 tensor of uniform integers in `[0, limit)`. */
  integers(shape: readonly number[], limit: number): Tensor;
}

/** One conformance case. */
export interface ConformanceCase {
  /** Unique, descriptive name, e.g. `"matmul 17x31 · 31x9 transposeB"`. */
  readonly name: string;
  /** The op under test (for grouping and filtering). */
  readonly op: string;
  /** Tolerance against `js`; the comment in the table says why. */
  readonly tolerance: Tolerance;
  /** Runs the op on the active backend. */
  readonly run: (inputs: CaseInputs) => Tensor | number | boolean;
  /**
   * The same through the op's asynchronous variant, for an op that returns a number read back synchronously
   * (`frobeniusNorm`, `allFinite`): {@link executeCaseAsync} uses it, so that the case also runs on a backend
   * that reads only asynchronously.
   */
  readonly runAsync?: (inputs: CaseInputs) => Promise<number | boolean>;
  /** When set, the case must throw an error of this class name (e.g. `"ShapeError"`) on every backend. */
  readonly expectedError?: string;
  /** True when the case feeds NaN or ±Infinity in on purpose (its result may hold them); otherwise it must be finite. */
  readonly nonFinite?: boolean;
}

/** Exact results: layout ops, comparisons, integer math, and float32 ops that are correctly rounded (+, −, ×, ÷, √). */
const exact: Tolerance = { absolute: 0, relative: 0 };
/** Correctly rounded in js; a GPU may round once differently: one float32 ulp (2⁻²³ ≈ 1.2e-7) relative. */
const oneUlp: Tolerance = { absolute: 1e-7, relative: 2.4e-7 };
/** Transcendental functions (exp, log, sigmoid, silu, cos/sin tables) are not correctly rounded on GPUs/wasm: a few ulp. */
const transcendental: Tolerance = { absolute: 1e-6, relative: 4e-6 };
/** Softmax and RMS norm: a reduction plus a transcendental, in float32 (js accumulates in float64). */
const normalized: Tolerance = { absolute: 2e-6, relative: 1e-5 };

/** Matrix products of depth k: float32 accumulation order differs by backend; error grows ~ k·ε·Σ|aᵢbᵢ| ≤ k·ε for inputs in [-1, 1). */
function productTolerance(depth: number): Tolerance {
  return { absolute: Math.max(1e-6, depth * 1.2e-7), relative: 1e-5 };
}

/** Sums of n float32 values in [-1, 1): order-dependent rounding bounded by n·ε·Σ|x|. */
function sumTolerance(count: number): Tolerance {
  return { absolute: Math.max(1e-6, count * 1.2e-7), relative: 1e-6 };
}

function matmulCase(
  m: number,
  k: number,
  n: number,
  options: { transposeA?: boolean; transposeB?: boolean; batchA?: number[]; batchB?: number[] } = {},
): ConformanceCase {
  const { transposeA = false, transposeB = false, batchA = [], batchB = [] } = options;
  const aShape = [...batchA, ...(transposeA ? [k, m] : [m, k])];
  const bShape = [...batchB, ...(transposeB ? [n, k] : [k, n])];
  const flags = `${transposeA ? " transposeA" : ""}${transposeB ? " transposeB" : ""}`;
  return {
    name: `matmul [${aShape.join(", ")}] · [${bShape.join(", ")}]${flags}`,
    op: "matmul",
    tolerance: productTolerance(k),
    run: ({ uniform }) => matmul(uniform(aShape), uniform(bShape), { transposeA, transposeB }),
  };
}

function binaryCase(
  name: "add" | "sub" | "mul" | "div",
  left: readonly number[],
  right: readonly number[],
): ConformanceCase {
  const operation = { add, sub, mul, div }[name];
  return {
    name: `${name} [${left.join(", ")}] with [${right.join(", ")}]`,
    op: name,
    tolerance: name === "div" ? oneUlp : exact,
    run: ({ uniform }) => operation(uniform(left), name === "div" ? uniform(right, 0.5, 2) : uniform(right)),
  };
}

function errorCase(
  name: string,
  op: string,
  expectedError: string,
  run: (inputs: CaseInputs) => Tensor | number,
): ConformanceCase {
  return { name, op, tolerance: exact, expectedError, run };
}

/** Every conformance case. */
export const conformanceCases: readonly ConformanceCase[] = [
  // Matrix products: 1×1, odd sizes that are no multiple of any tile, all transpose flags, batches, 1024³.
  matmulCase(1, 1, 1),
  matmulCase(3, 5, 7),
  matmulCase(17, 31, 9),
  matmulCase(17, 31, 9, { transposeA: true }),
  matmulCase(17, 31, 9, { transposeB: true }),
  matmulCase(17, 31, 9, { transposeA: true, transposeB: true }),
  matmulCase(65, 129, 33),
  matmulCase(1, 257, 1),
  matmulCase(127, 1, 131),
  matmulCase(5, 7, 3, { batchA: [3], batchB: [3] }),
  matmulCase(5, 7, 3, { batchA: [2, 3], transposeA: true }),
  matmulCase(4, 6, 5, { batchB: [2], transposeB: true }),
  matmulCase(1024, 1024, 1024),
  matmulCase(1024, 1024, 1024, { transposeB: true }),
  matmulCase(300, 1024, 16),
  // Broadcasting edge cases.
  binaryCase("add", [3, 4], [3, 4]),
  binaryCase("add", [3, 1], [1, 4]),
  binaryCase("sub", [2, 3, 4], [4]),
  binaryCase("mul", [], [5, 7]),
  binaryCase("mul", [2, 1, 3], [1, 4, 1]),
  binaryCase("div", [1], [3, 1, 5]),
  binaryCase("add", [0, 3], [3]),
  binaryCase("sub", [7, 1, 1], [1, 1, 9]),
  binaryCase("div", [33, 17], [33, 17]),
  {
    name: "add a number and an int32 tensor",
    op: "add",
    tolerance: exact,
    run: ({ integers }) => add(integers([4, 5], 100), 3),
  },
  {
    name: "mul int32 by float32 promotes to float32",
    op: "mul",
    tolerance: exact,
    run: ({ integers, uniform }) => mul(integers([3, 5], 10), uniform([5])),
  },
  // Elementwise.
  {
    name: "scale [13, 7] by -2.5",
    op: "scale",
    tolerance: oneUlp,
    run: ({ uniform }) => scale(uniform([13, 7]), -2.5),
  },
  {
    name: "axpy 0.3·x + y [9, 11]",
    op: "axpy",
    tolerance: oneUlp,
    run: ({ uniform }) => axpy(0.3, uniform([9, 11]), uniform([9, 11])),
  },
  { name: "neg [5, 3]", op: "neg", tolerance: exact, run: ({ uniform }) => neg(uniform([5, 3])) },
  { name: "sqrt [257]", op: "sqrt", tolerance: oneUlp, run: ({ uniform }) => sqrt(uniform([257], 0, 100)) },
  {
    name: "exp [3, 67]",
    op: "exp",
    tolerance: transcendental,
    run: ({ uniform }) => exp(uniform([3, 67], -20, 20)),
  },
  {
    name: "log [67, 3]",
    op: "log",
    tolerance: transcendental,
    run: ({ uniform }) => log(uniform([67, 3], 1e-3, 1e3)),
  },
  {
    name: "silu [4, 129]",
    op: "silu",
    tolerance: transcendental,
    run: ({ uniform }) => silu(uniform([4, 129], -12, 12)),
  },
  {
    name: "sigmoid [129]",
    op: "sigmoid",
    tolerance: transcendental,
    run: ({ uniform }) => sigmoid(uniform([129], -12, 12)),
  },
  {
    name: "clamp [11, 13] to [-0.5, 0.25]",
    op: "clamp",
    tolerance: exact,
    run: ({ uniform }) => clamp(uniform([11, 13]), -0.5, 0.25),
  },
  // Reductions.
  {
    name: "sum all of [7, 13, 5]",
    op: "sum",
    tolerance: sumTolerance(455),
    run: ({ uniform }) => sum(uniform([7, 13, 5])),
  },
  {
    name: "sum axis 1 of [7, 13, 5]",
    op: "sum",
    tolerance: sumTolerance(13),
    run: ({ uniform }) => sum(uniform([7, 13, 5]), 1),
  },
  {
    name: "sum axis -1 keepDims of [3, 1001]",
    op: "sum",
    tolerance: sumTolerance(1001),
    run: ({ uniform }) => sum(uniform([3, 1001]), -1, true),
  },
  {
    name: "mean axis 0 of [9, 4]",
    op: "mean",
    tolerance: sumTolerance(9),
    run: ({ uniform }) => mean(uniform([9, 4]), 0),
  },
  {
    name: "max axis 1 of [6, 17]",
    op: "max",
    tolerance: exact,
    run: ({ uniform }) => max(uniform([6, 17]), 1),
  },
  { name: "max all of [31, 3]", op: "max", tolerance: exact, run: ({ uniform }) => max(uniform([31, 3])) },
  {
    name: "argmax axis -1 of [5, 33]",
    op: "argmax",
    tolerance: exact,
    run: ({ uniform }) => argmax(uniform([5, 33]), -1),
  },
  {
    name: "argmax axis 0 of [33, 5]",
    op: "argmax",
    tolerance: exact,
    run: ({ uniform }) => argmax(uniform([33, 5]), 0),
  },
  // Normalisation and attention helpers.
  {
    name: "softmax [5, 17]",
    op: "softmax",
    tolerance: normalized,
    run: ({ uniform }) => softmax(uniform([5, 17], -4, 4)),
  },
  {
    name: "softmax large logits [2, 3, 129]",
    op: "softmax",
    tolerance: normalized,
    run: ({ uniform }) => softmax(uniform([2, 3, 129], -100, 100)),
  },
  {
    name: "softmax [1, 1]",
    op: "softmax",
    tolerance: normalized,
    run: ({ uniform }) => softmax(uniform([1, 1])),
  },
  {
    name: "rmsNorm [4, 33] eps 1e-6",
    op: "rmsNorm",
    tolerance: normalized,
    run: ({ uniform }) => rmsNorm(uniform([4, 33], -3, 3), uniform([33], 0.5, 1.5), 1e-6),
  },
  {
    name: "rmsNorm [2, 3, 64] eps 1e-5",
    op: "rmsNorm",
    tolerance: normalized,
    run: ({ uniform }) => rmsNorm(uniform([2, 3, 64]), uniform([64]), 1e-5),
  },
  {
    name: "applyRotaryEmbedding [1, 2, 7, 16] positions 3..9",
    op: "applyRotaryEmbedding",
    tolerance: transcendental,
    run: ({ uniform }) => {
      const tables = rotaryTables([3, 4, 5, 6, 7, 8, 9], 16, 10000);
      return applyRotaryEmbedding(uniform([1, 2, 7, 16]), tables.cos, tables.sin);
    },
  },
  // Layout.
  {
    name: "gather [11, 6] by [2, 5]",
    op: "gather",
    tolerance: exact,
    run: ({ uniform, integers }) => gather(uniform([11, 6]), integers([2, 5], 11)),
  },
  {
    name: "transpose [33, 17]",
    op: "transpose",
    tolerance: exact,
    run: ({ uniform }) => transpose(uniform([33, 17])),
  },
  {
    name: "transpose [3, 5, 7] by [2, 0, 1]",
    op: "transpose",
    tolerance: exact,
    run: ({ uniform }) => transpose(uniform([3, 5, 7]), [2, 0, 1]),
  },
  {
    name: "reshape [4, 6] to [2, -1, 3]",
    op: "reshape",
    tolerance: exact,
    run: ({ uniform }) => reshape(uniform([4, 6]), [2, -1, 3]),
  },
  {
    name: "slice [5, 7, 3] from [1, 2, 0] size [3, -1, 2]",
    op: "slice",
    tolerance: exact,
    run: ({ uniform }) => slice(uniform([5, 7, 3]), [1, 2, 0], [3, -1, 2]),
  },
  {
    name: "concat axis 1 of [2, 3, 4] [2, 1, 4] [2, 5, 4]",
    op: "concat",
    tolerance: exact,
    run: ({ uniform }) => concat([uniform([2, 3, 4]), uniform([2, 1, 4]), uniform([2, 5, 4])], 1),
  },
  {
    name: "concat axis 0 of [1, 3] [4, 3]",
    op: "concat",
    tolerance: exact,
    run: ({ uniform }) => concat([uniform([1, 3]), uniform([4, 3])], 0),
  },
  {
    name: "concat axis -1 of [3, 2] [3, 7]",
    op: "concat",
    tolerance: exact,
    run: ({ uniform }) => concat([uniform([3, 2]), uniform([3, 7])], -1),
  },
  {
    name: "cast float32 to int32",
    op: "cast",
    tolerance: exact,
    run: ({ uniform }) => cast(uniform([4, 4], -50, 50), "int32"),
  },
  // Matrix helpers.
  {
    name: "scaleRows [9, 5]",
    op: "scaleRows",
    tolerance: exact,
    run: ({ uniform }) => scaleRows(uniform([9, 5]), uniform([9])),
  },
  {
    name: "scaleColumns [9, 5]",
    op: "scaleColumns",
    tolerance: exact,
    run: ({ uniform }) => scaleColumns(uniform([9, 5]), uniform([5])),
  },
  {
    name: "frobeniusNorm [31, 17]",
    op: "frobeniusNorm",
    tolerance: sumTolerance(527),
    run: ({ uniform }) => frobeniusNorm(uniform([31, 17])),
    runAsync: ({ uniform }) => frobeniusNormAsync(uniform([31, 17])),
  },
  {
    name: "isFinite with NaN and ±Infinity",
    nonFinite: true,
    op: "isFinite",
    tolerance: exact,
    run: () =>
      finiteMask(tensor([1, Number.NaN, Number.POSITIVE_INFINITY, -2, Number.NEGATIVE_INFINITY, 0], [2, 3])),
  },
  {
    name: "allFinite of finite values",
    op: "allFinite",
    tolerance: exact,
    run: ({ uniform }) => allFinite(uniform([7, 9])),
    runAsync: ({ uniform }) => allFiniteAsync(uniform([7, 9])),
  },
  {
    name: "allFinite with one NaN",
    nonFinite: true,
    op: "allFinite",
    tolerance: exact,
    run: ({ uniform }) => allFinite(add(uniform([7, 9]), tensor([Number.NaN], [1]))),
    runAsync: async ({ uniform }) => {
      const sum = tidy(() => add(uniform([7, 9]), tensor([Number.NaN], [1])));
      try {
        return await allFiniteAsync(sum);
      } finally {
        sum.dispose();
      }
    },
  },
  // Fused kernels of a Llama layer: SwiGLU, the attention softmax (scale, additive and causal masks) and the
  // fused gradients of softmax, SwiGLU and RMS norm.
  {
    name: "swiGlu [5, 130]",
    op: "swiGlu",
    tolerance: transcendental,
    run: ({ uniform }) => swiGlu(uniform([5, 130], -10, 10), uniform([5, 130], -3, 3)),
  },
  {
    name: "softmax scale 0.125, causal [2, 3, 7, 9] (a cache of 2 keys)",
    op: "softmax",
    tolerance: normalized,
    run: ({ uniform }) => softmax(uniform([2, 3, 7, 9], -30, 30), { scale: 0.125, causal: true }),
  },
  {
    name: "softmax with an additive mask [4, 33] over [2, 4, 33], and causal",
    op: "softmax",
    tolerance: normalized,
    run: ({ uniform }) => {
      const mask = concat(
        [uniform([4, 30], -2, 2), tensor(Array(12).fill(Number.NEGATIVE_INFINITY), [4, 3])],
        1,
      );
      return concat(
        [
          softmax(uniform([2, 4, 33], -5, 5), { mask }),
          softmax(uniform([2, 4, 33], -5, 5), { mask, causal: true, scale: 2 }),
        ],
        0,
      );
    },
  },
  {
    name: "softmax causal with more queries than keys (rows with no key are NaN, as torch)",
    op: "softmax",
    tolerance: normalized,
    nonFinite: true,
    run: ({ uniform }) => softmax(uniform([6, 4]), { causal: true }),
  },
  {
    name: "fused gradients: softmax (scaled, causal), swiGlu, rmsNorm [6, 40]",
    op: "softmax",
    tolerance: normalized,
    run: ({ uniform }) => {
      const x = uniform([6, 40], -2, 2);
      const up = uniform([6, 40], -2, 2);
      const weight = uniform([40], 0.5, 1.5);
      const upstream = uniform([6, 40]);
      const { value, gradients } = valueAndGradients(
        () =>
          sum(
            mul(
              add(softmax(x, { scale: 0.3, causal: true }), swiGlu(rmsNorm(x, weight, 1e-5), up)),
              upstream,
            ),
          ),
        [x, up, weight],
      );
      value.dispose();
      return concat([gradients[0]!, gradients[1]!, reshape(gradients[2]!, [1, 40])], 0);
    },
  },
  // Cross-entropy: the fused per-row kernel and its fused gradient, over a wide vocabulary and an ignored row.
  {
    name: "crossEntropy [6, 1000] with an ignored row",
    op: "crossEntropy",
    tolerance: normalized,
    run: ({ uniform }) =>
      crossEntropy(uniform([6, 1000], -8, 8), tensor([3, -100, 999, 0, 512, 77], [6], "int32")),
  },
  {
    name: "crossEntropy gradient [6, 1000] with an ignored row",
    op: "crossEntropy",
    tolerance: normalized,
    run: ({ uniform }) => {
      const logits = uniform([6, 1000], -8, 8);
      const labels = tensor([3, -100, 999, 0, 512, 77], [6], "int32");
      const { value, gradients } = valueAndGradients(() => crossEntropy(logits, labels), [logits]);
      value.dispose();
      return gradients[0]!;
    },
  },
  {
    name: "crossEntropy of float16 logits with a custom ignore index",
    op: "crossEntropy",
    tolerance: normalized,
    run: ({ uniform }) =>
      crossEntropy(cast(uniform([3, 40], -3, 3), "float16"), tensor([7, 39, 7], [3], "int32"), {
        ignoreIndex: 7,
      }),
  },
  // 16-bit storage: rounding to bfloat16/float16 is exact (round to nearest even, as torch), widening is
  // exact, layout ops move bit patterns, and matmul reads 16-bit operands as their float32 values, so every
  // 16-bit result below must equal js exactly, except products, which differ by accumulation order as usual.
  {
    name: "cast float32 to bfloat16: ties to even, overflow, infinities, NaN",
    nonFinite: true,
    op: "cast",
    tolerance: exact,
    run: () =>
      cast(
        tensor(
          [
            1 + 2 ** -8, // halfway between 1 and 1 + 2⁻⁷: to even (1)
            1 + 3 * 2 ** -8, // halfway: to even (1 + 2⁻⁶)
            -(1 + 2 ** -8 + 2 ** -20), // above halfway: away
            3.3895313892515355e38, // the largest bfloat16
            3.3961775292304e38, // rounds past it: infinity
            -3.4028234663852886e38,
            Number.POSITIVE_INFINITY,
            Number.NEGATIVE_INFINITY,
            Number.NaN,
            0,
            -0,
            1.1754943508222875e-38, // the smallest normal float32 (and bfloat16)
            0.1,
            -123456.789,
            65504.5,
            2 ** 100 * (1 + 2 ** -7),
          ],
          [4, 4],
        ),
        "bfloat16",
      ),
  },
  {
    name: "cast float32 to float16: ties, subnormals, overflow, NaN",
    nonFinite: true,
    op: "cast",
    tolerance: exact,
    run: () =>
      cast(
        tensor(
          [
            1 + 2 ** -11, // halfway between 1 and 1 + 2⁻¹⁰: to even (1)
            1 + 3 * 2 ** -11, // halfway: to even (1 + 2⁻⁹)
            65504, // the largest half
            65519.99, // below the halfway point to 65536: 65504
            65520, // halfway to 2¹⁶: infinity
            -70000,
            2 ** -24, // the smallest subnormal half
            3 * 2 ** -25, // halfway between 2⁻²⁴ and 2⁻²³: to even (2⁻²³)
            2 ** -25, // halfway between 0 and 2⁻²⁴: to even (0)
            -(2 ** -14 - 2 ** -24), // the largest subnormal
            2 ** -26, // underflows to 0
            Number.NaN,
            Number.NEGATIVE_INFINITY,
            0.1,
            -0.333,
            1000.0625,
          ],
          [2, 8],
        ),
        "float16",
      ),
  },
  {
    name: "cast uniform [13, 37] to bfloat16 and float16 and back",
    op: "cast",
    tolerance: exact,
    run: ({ uniform }) => {
      const values = uniform([13, 37], -300, 300);
      return concat([cast(cast(values, "bfloat16"), "float32"), cast(cast(values, "float16"), "float32")], 0);
    },
  },
  {
    name: "cast between the 16-bit types and int32",
    op: "cast",
    tolerance: exact,
    run: ({ uniform }) => {
      const wide = cast(uniform([3, 11], -2e4, 2e4), "int32");
      const viaBfloat16 = cast(cast(wide, "bfloat16"), "int32");
      const halfToBfloat16 = cast(cast(uniform([3, 11], -100, 100), "float16"), "bfloat16");
      return concat([cast(viaBfloat16, "float32"), cast(halfToBfloat16, "float32")], 0);
    },
  },
  {
    name: "layout ops on bfloat16 and float16 keep their dtype and bits",
    op: "cast",
    tolerance: exact,
    run: ({ uniform, integers }) => {
      const table = cast(uniform([9, 6], -4, 4), "bfloat16");
      const half = cast(uniform([2, 3, 4], -4, 4), "float16");
      const pieces = [
        gather(table, integers([5], 9)),
        reshape(transpose(half, [2, 0, 1]), [4, 6]),
        reshape(slice(half, [1, 0, 1], [1, 3, 2]), [1, 6]),
        concat([slice(table, [2, 0], [2, 6]), slice(table, [7, 0], [1, 6])], 0),
      ];
      if (pieces.some((piece) => piece.dtype === "float32"))
        throw new Error("a layout op widened a 16-bit tensor");
      return concat(
        pieces.map((piece) => cast(piece, "float32")),
        0,
      );
    },
  },
  {
    name: "matmul [37, 200] · bfloat16 [70, 200] transposeB (a linear layer)",
    op: "matmul",
    tolerance: productTolerance(200),
    run: ({ uniform }) =>
      matmul(uniform([37, 200]), cast(uniform([70, 200]), "bfloat16"), { transposeB: true }),
  },
  {
    name: "matmul float16 [21, 66] · [66, 35], bfloat16 · bfloat16 transposeA, batched bfloat16 B",
    op: "matmul",
    tolerance: productTolerance(66),
    run: ({ uniform }) => {
      const first = matmul(cast(uniform([21, 66]), "float16"), uniform([66, 35]));
      const second = matmul(cast(uniform([66, 21]), "bfloat16"), cast(uniform([66, 35]), "bfloat16"), {
        transposeA: true,
      });
      const third = reshape(
        matmul(uniform([3, 7, 66]), cast(uniform([3, 5, 66]), "float16"), { transposeB: true }),
        [21, 5],
      );
      return concat([first, second, third], 1);
    },
  },
  {
    name: "matmul tall-skinny bfloat16 [300, 512] · [512, 16]",
    op: "matmul",
    tolerance: productTolerance(512),
    run: ({ uniform }) => matmul(cast(uniform([300, 512]), "bfloat16"), uniform([512, 16])),
  },
  {
    name: "float32 ops widen 16-bit inputs: add, rmsNorm weight, softmax, sum",
    op: "add",
    tolerance: normalized,
    run: ({ uniform }) => {
      const x = uniform([4, 24]);
      const sumOfBoth = add(x, cast(uniform([24]), "bfloat16"));
      const normalizedRows = rmsNorm(x, cast(uniform([24], 0.5, 1.5), "bfloat16"), 1e-6);
      const probabilities = softmax(cast(uniform([4, 24], -3, 3), "float16"));
      const sums = reshape(sum(cast(uniform([4, 24]), "bfloat16"), 1, true), [4, 1]);
      return concat([sumOfBoth, normalizedRows, probabilities, sums], 1);
    },
  },
  // Bad shapes and dtypes: the same typed error on every backend.
  errorCase("add [2, 3] with [3, 2] does not broadcast", "add", "ShapeError", ({ uniform }) =>
    add(uniform([2, 3]), uniform([3, 2])),
  ),
  errorCase("matmul inner dimensions differ", "matmul", "ShapeError", ({ uniform }) =>
    matmul(uniform([2, 3]), uniform([4, 5])),
  ),
  errorCase("matmul batch axes differ", "matmul", "ShapeError", ({ uniform }) =>
    matmul(uniform([2, 3, 4]), uniform([3, 4, 5])),
  ),
  errorCase("matmul of a vector", "matmul", "ShapeError", ({ uniform }) =>
    matmul(uniform([3]), uniform([3, 2])),
  ),
  errorCase("reshape to a different size", "reshape", "ShapeError", ({ uniform }) =>
    reshape(uniform([2, 3]), [4, 2]),
  ),
  errorCase("concat extents differ", "concat", "ShapeError", ({ uniform }) =>
    concat([uniform([2, 3]), uniform([3, 3])], 1),
  ),
  errorCase("slice past the end", "slice", "ShapeError", ({ uniform }) =>
    slice(uniform([4, 4]), [2, 0], [3, 4]),
  ),
  errorCase("rmsNorm weight of the wrong size", "rmsNorm", "ShapeError", ({ uniform }) =>
    rmsNorm(uniform([2, 8]), uniform([7]), 1e-6),
  ),
  errorCase("rotary tables of the wrong length", "applyRotaryEmbedding", "ShapeError", ({ uniform }) => {
    const tables = rotaryTables([0, 1], 8);
    return applyRotaryEmbedding(uniform([1, 3, 8]), tables.cos, tables.sin);
  }),
  errorCase("scaleRows vector of the wrong size", "scaleRows", "ShapeError", ({ uniform }) =>
    scaleRows(uniform([3, 4]), uniform([4])),
  ),
  errorCase("gather with float32 indices", "gather", "DTypeError", ({ uniform }) =>
    gather(uniform([3, 4]), uniform([2])),
  ),
  errorCase("matmul of an int32 operand", "matmul", "DTypeError", ({ uniform, integers }) =>
    matmul(uniform([2, 3]), integers([3, 2], 5)),
  ),
  errorCase("cast to an unknown dtype", "cast", "TensorArgumentError", ({ uniform }) =>
    cast(uniform([2]), "float64" as never),
  ),
];

/** Shape and values of a case's result, read back to the CPU (numbers and booleans become scalars). */
export interface CaseOutput {
  /** Result shape (`[]` for numbers and booleans). */
  readonly shape: readonly number[];
  /** Result values. */
  readonly values: Float64Array;
}

/** FNV-1a hash of a case name: the seed of the case's generator. */
function seedOf(name: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < name.length; index++)
    hash = Math.imul(hash ^ name.charCodeAt(index), 0x01000193) >>> 0;
  return hash;
}

/** The generator-backed inputs of a case, and the tensors they created (for disposal). */
function caseInputs(testCase: ConformanceCase): { inputs: CaseInputs; created: Tensor[] } {
  const random = createGenerator(seedOf(testCase.name));
  const created: Tensor[] = [];
  const inputs: CaseInputs = {
    random,
    uniform: (shape, low = -1, high = 1) => {
      const result = random.uniform(shape, low, high);
      created.push(result);
      return result;
    },
    integers: (shape, limit) => {
      const words = random.uint32Values(shape.reduce((product, extent) => product * extent, 1));
      const result = tensor(
        Array.from(words, (word) => word % limit),
        shape,
        "int32",
      );
      created.push(result);
      return result;
    },
  };
  return { inputs, created };
}

/**
 * Runs a case on the active backend and reads the result back. Every tensor the case creates is disposed,
 * its result included.
 * Errors propagate.
 */
export function executeCase(testCase: ConformanceCase): CaseOutput {
  const { inputs, created } = caseInputs(testCase);
  try {
    // tidy releases whatever a case creates besides its result (rotary tables, literal tensors, ...).
    const result = tidy(() => testCase.run(inputs));
    if (typeof result === "number" || typeof result === "boolean") {
      return { shape: [], values: Float64Array.of(Number(result)) };
    }
    const output = { shape: [...result.shape], values: Float64Array.from(result.dataSync()) };
    result.dispose();
    return output;
  } finally {
    for (const tensor of created) tensor.dispose();
  }
}

/**
 * {@link executeCase} through the asynchronous read path (`await tensor.data()`, and `runAsync` for cases that
 * return a number), so that it works on every backend, including one that reads only asynchronously
 * (`webgpu`). Every tensor the case creates is disposed. Errors propagate.
 */
export async function executeCaseAsync(testCase: ConformanceCase): Promise<CaseOutput> {
  const { inputs, created } = caseInputs(testCase);
  try {
    if (testCase.runAsync !== undefined) {
      return { shape: [], values: Float64Array.of(Number(await testCase.runAsync(inputs))) };
    }
    const result = tidy(() => testCase.run(inputs));
    if (typeof result === "number" || typeof result === "boolean") {
      return { shape: [], values: Float64Array.of(Number(result)) };
    }
    try {
      return { shape: [...result.shape], values: Float64Array.from(await result.data()) };
    } finally {
      result.dispose();
    }
  } finally {
    for (const tensor of created) tensor.dispose();
  }
}

/** The first disagreement between two outputs, or `undefined` when they agree within `tolerance`. NaNs must match NaNs. */
export function compareOutputs(
  actual: CaseOutput,
  expected: CaseOutput,
  tolerance: Tolerance,
): string | undefined {
  if (
    actual.shape.length !== expected.shape.length ||
    actual.shape.some((extent, axis) => extent !== expected.shape[axis])
  ) {
    return `shape [${actual.shape.join(", ")}] differs from [${expected.shape.join(", ")}]`;
  }
  let worst: { index: number; error: number } | undefined;
  for (let index = 0; index < expected.values.length; index++) {
    const want = expected.values[index]!;
    const got = actual.values[index]!;
    if (Number.isNaN(want) || Number.isNaN(got)) {
      if (Number.isNaN(want) !== Number.isNaN(got)) return `element ${index} is ${got}, expected ${want}`;
      continue;
    }
    if (want === got) continue;
    const excess = Math.abs(got - want) - (tolerance.absolute + tolerance.relative * Math.abs(want));
    if (!(excess <= 0) && (worst === undefined || excess > worst.error)) worst = { index, error: excess };
  }
  if (worst === undefined) return undefined;
  const index = worst.index;
  return `element ${index} is ${actual.values[index]}, expected ${expected.values[index]} (tolerance ${tolerance.absolute} + ${tolerance.relative}·|expected|)`;
}
