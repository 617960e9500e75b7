import { makeView, runKernel, runOperation } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError } from "../errors.js";
import { assertFloat, formatShape } from "./shape-utils.js";
import { withWidenedInputs } from "./widen.js";

/**
 * Multiplies row `i` of the 2-D `a` by `v[i]` (`diag(v) · a`).
 *
 * @throws ShapeError when `a` is not 2-D or `v` is not `[rows]`.
 */
export function scaleRows(a: Tensor, v: Tensor): Tensor {
  if (a.rank !== 2 || v.rank !== 1 || v.shape[0] !== a.shape[0]) {
    throw new ShapeError(
      `scaleRows: v ${formatShape(v.shape)} must be [rows] for a 2-D a ${formatShape(a.shape)}`,
    );
  }
  assertFloat("scaleRows", "a", a);
  assertFloat("scaleRows", "v", v);
  return runOperation("scaleRows", [a, v], {}, () =>
    withWidenedInputs([a, v], ([wideA, wideV]) => {
      const column = makeView(wideV!, [a.shape[0]!, 1]);
      const output = runKernel("mul", [wideA!, column], { outputShape: a.shape });
      column.dispose();
      return output;
    }),
  );
}

/**
 * Multiplies column `j` of the 2-D `a` by `v[j]` (`a · diag(v)`).
 *
 * @throws ShapeError when `a` is not 2-D or `v` is not `[columns]`.
 */
export function scaleColumns(a: Tensor, v: Tensor): Tensor {
  if (a.rank !== 2 || v.rank !== 1 || v.shape[0] !== a.shape[1]) {
    throw new ShapeError(
      `scaleColumns: v ${formatShape(v.shape)} must be [columns] for a 2-D a ${formatShape(a.shape)}`,
    );
  }
  assertFloat("scaleColumns", "a", a);
  assertFloat("scaleColumns", "v", v);
  return runOperation("scaleColumns", [a, v], {}, () =>
    withWidenedInputs([a, v], ([wideA, wideV]) => {
      const row = makeView(wideV!, [1, a.shape[1]!]);
      const output = runKernel("mul", [wideA!, row], { outputShape: a.shape });
      row.dispose();
      return output;
    }),
  );
}

function frobeniusNormTensor(a: Tensor): Tensor {
  assertFloat("frobeniusNorm", "input", a);
  return withWidenedInputs([a], ([widened]) => runKernel("frobeniusNorm", [widened!], {}));
}

/** The Frobenius norm `sqrt(Σ a²)` of any floating-point tensor, as a number (reads one value back). */
export function frobeniusNorm(a: Tensor): number {
  const norm = frobeniusNormTensor(a);
  try {
    return norm.item();
  } finally {
    norm.dispose();
  }
}

/** {@link frobeniusNorm}, reading its one value back asynchronously (works on every backend, `webgpu` included). */
export async function frobeniusNormAsync(a: Tensor): Promise<number> {
  const norm = frobeniusNormTensor(a);
  try {
    return await norm.itemAsync();
  } finally {
    norm.dispose();
  }
}

/**
 * Elementwise finiteness mask: int32 1 where the element is finite, 0 for NaN or ±Infinity.
 * Exported from the package as `isFinite`.
 */
export function finiteMask(a: Tensor): Tensor {
  assertFloat("isFinite", "input", a);
  return runOperation("isFinite", [a], {}, () =>
    withWidenedInputs([a], ([widened]) => runKernel("isFinite", [widened!], {})),
  );
}

/** A one-element tensor that is −1 exactly when every element of `a` is finite: max(−isFinite(a)). */
function finiteIndicator(a: Tensor): Tensor {
  // max(-mask) is -1 exactly when every mask entry is 1 (exact for any size, unlike a float32 count).
  const mask = withWidenedInputs([a], ([widened]) => runKernel("isFinite", [widened!], {}));
  const asFloat = runKernel("cast", [mask], { dtype: "float32" });
  const negated = runKernel("neg", [asFloat], {});
  const flat = makeView(negated, [1, negated.size, 1]);
  const largest = runKernel("max", [flat], {});
  for (const tensor of [mask, asFloat, negated, flat]) tensor.dispose();
  return largest;
}

/** True when every element is finite (int32 tensors and empty tensors always are). Reads one value back. */
export function allFinite(a: Tensor): boolean {
  if (a.dtype === "int32" || a.size === 0) return true;
  const indicator = finiteIndicator(a);
  try {
    return indicator.item() === -1;
  } finally {
    indicator.dispose();
  }
}

/** {@link allFinite}, reading its one value back asynchronously (works on every backend, `webgpu` included). */
export async function allFiniteAsync(a: Tensor): Promise<boolean> {
  if (a.dtype === "int32" || a.size === 0) return true;
  const indicator = finiteIndicator(a);
  try {
    return (await indicator.itemAsync()) === -1;
  } finally {
    indicator.dispose();
  }
}
