import { makeView, runKernel, runOperation } from "../engine/engine.js";
import { Tensor } from "../engine/tensor.js";
import { TensorArgumentError } from "../errors.js";
import { scalar } from "./creation.js";
import {
  assertFiniteNumber,
  assertFloat,
  assertSameShape,
  broadcastShapes,
  formatShape,
} from "./shape-utils.js";
import { withWidenedInputs } from "./widen.js";

type BinaryName = "add" | "sub" | "mul" | "div";

function toTensor(value: Tensor | number, other: Tensor | number): Tensor {
  if (value instanceof Tensor) return value;
  const integer = other instanceof Tensor && other.dtype === "int32" && Number.isInteger(value);
  return scalar(value, integer ? "int32" : "float32");
}

/** Gives `tensor` the output's rank by prepending axes of extent 1 (a view). */
function withRank(tensor: Tensor, rank: number): Tensor {
  if (tensor.rank === rank) return tensor;
  return makeView(tensor, [...new Array<number>(rank - tensor.rank).fill(1), ...tensor.shape]);
}

function binary(name: BinaryName, a: Tensor | number, b: Tensor | number): Tensor {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw new TensorArgumentError(`${name}: at least one operand must be a tensor, got ${a} and ${b}`);
  }
  const tensors = [a, b].filter((value): value is Tensor => value instanceof Tensor);
  const attributes: Record<string, unknown> = {};
  if (!(a instanceof Tensor)) attributes.left = a;
  if (!(b instanceof Tensor)) attributes.right = b;
  return runOperation(name, tensors, attributes, () => {
    const created: Tensor[] = [];
    let left = toTensor(a, b);
    let right = toTensor(b, a);
    if (left !== a) created.push(left);
    if (right !== b) created.push(right);
    // int32 with int32 stays int32; anything else computes in float32: an int32 side of a mixed op is promoted
    // (as torch's type promotion) and float16/bfloat16 sides are widened, so kernels see one dtype.
    const target = left.dtype === "int32" && right.dtype === "int32" ? "int32" : "float32";
    if (left.dtype !== target) {
      left = runKernel("cast", [left], { dtype: target });
      created.push(left);
    }
    if (right.dtype !== target) {
      right = runKernel("cast", [right], { dtype: target });
      created.push(right);
    }
    const outputShape = broadcastShapes(name, left.shape, right.shape);
    const leftView = withRank(left, outputShape.length);
    const rightView = withRank(right, outputShape.length);
    const output = runKernel(name, [leftView, rightView], { outputShape });
    for (const tensor of new Set([...created, leftView, rightView]))
      if (tensor !== a && tensor !== b) tensor.dispose();
    return output;
  });
}

/** Elementwise `a + b` with NumPy broadcasting; either side may be a number. */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("add", a, b);
}

/** Elementwise `a - b` with NumPy broadcasting; either side may be a number. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("sub", a, b);
}

/** Elementwise `a * b` with NumPy broadcasting; either side may be a number. */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("mul", a, b);
}

/** Elementwise `a / b` with NumPy broadcasting; either side may be a number (int32 ÷ int32 truncates). */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("div", a, b);
}

/** `factor * a` (float32; an int32, float16 or bfloat16 input is converted first). */
export function scale(a: Tensor, factor: number): Tensor {
  assertFiniteNumber("scale", "factor", factor);
  return runOperation("scale", [a], { factor }, () =>
    withWidenedInputs([a], ([widened]) => runKernel("scale", [widened!], { factor })),
  );
}

/**
 * `alpha * x + y` (BLAS axpy argument order), for two floating-point tensors of the same shape (float32 result).
 *
 * @throws ShapeError when the shapes differ.
 */
export function axpy(alpha: number, x: Tensor, y: Tensor): Tensor {
  assertFiniteNumber("axpy", "alpha", alpha);
  assertFloat("axpy", "x", x);
  assertFloat("axpy", "y", y);
  assertSameShape("axpy", x, y);
  return runOperation("axpy", [x, y], { alpha }, () =>
    withWidenedInputs([x, y], (widened) => runKernel("axpy", widened, { alpha })),
  );
}

type UnaryName = "sqrt" | "exp" | "log" | "silu" | "sigmoid";

function unary(name: UnaryName, a: Tensor): Tensor {
  assertFloat(name, "input", a);
  return runOperation(name, [a], {}, () =>
    withWidenedInputs([a], ([widened]) => runKernel(name, [widened!], {})),
  );
}

/** Elementwise `-a` (int32 stays int32; floating-point results are float32). */
export function neg(a: Tensor): Tensor {
  return runOperation("neg", [a], {}, () =>
    withWidenedInputs([a], ([widened]) => runKernel("neg", [widened!], {})),
  );
}

/** Elementwise square root (NaN for negative inputs). */
export function sqrt(a: Tensor): Tensor {
  return unary("sqrt", a);
}

/** Elementwise `e^a`. */
export function exp(a: Tensor): Tensor {
  return unary("exp", a);
}

/** Elementwise natural logarithm. */
export function log(a: Tensor): Tensor {
  return unary("log", a);
}

/** Elementwise SiLU: `a * sigmoid(a)`. */
export function silu(a: Tensor): Tensor {
  return unary("silu", a);
}

/** Elementwise logistic sigmoid `1 / (1 + e^-a)`. */
export function sigmoid(a: Tensor): Tensor {
  return unary("sigmoid", a);
}

/**
 * Elementwise `min(max(a, min), max)`; NaN stays NaN. Pass `-Infinity`/`Infinity` for a one-sided clamp.
 *
 * @throws TensorArgumentError when `min > max` or a bound is NaN.
 */
export function clamp(a: Tensor, min: number, max: number): Tensor {
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) {
    throw new TensorArgumentError(
      `clamp: bounds [${min}, ${max}] are not an interval (tensor shape ${formatShape(a.shape)})`,
    );
  }
  return runOperation("clamp", [a], { min, max }, () =>
    withWidenedInputs([a], ([widened]) => runKernel("clamp", [widened!], { min, max })),
  );
}
