import { makeView, runKernel, runOperation } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError } from "../errors.js";
import { assertFloat, formatShape, sizeOfShape } from "./shape-utils.js";

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** Use the transpose of the last two axes of `a`. */
  readonly transposeA?: boolean;
  /** Use the transpose of the last two axes of `b`. */
  readonly transposeB?: boolean;
}

/**
 * Matrix product over the last two axes, batched over the leading ones: `a` is `[...batch, m, k]`, `b` is
 * `[...batch, k, n]` (or `[k, n]`, shared by every batch); the transpose flags swap the last two axes of their
 * side without copying. The leading axes of `a` and `b` must be equal, or one side must be 2-D. Either operand
 * may be float32, float16 or bfloat16 (e.g. a 16-bit weight in `x·Wᵀ`): 16-bit elements are read as their
 * exact float32 values without a float32 copy of the operand (on `wasm`, panels are widened as they are
 * packed), and the product is computed and returned in float32.
 *
 * @throws ShapeError naming both shapes when the inner dimensions or the batch axes differ.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  const describe = () =>
    `a ${formatShape(a.shape)}${transposeA ? "ᵀ" : ""} and b ${formatShape(b.shape)}${transposeB ? "ᵀ" : ""}`;
  if (a.rank < 2 || b.rank < 2)
    throw new ShapeError(`matmul: both operands need at least 2 axes, got ${describe()}`);
  assertFloat("matmul", "a", a);
  assertFloat("matmul", "b", b);
  const [aRows, aColumns] = a.shape.slice(-2) as [number, number];
  const [bRows, bColumns] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? aColumns : aRows;
  const depthA = transposeA ? aRows : aColumns;
  const depthB = transposeB ? bColumns : bRows;
  const n = transposeB ? bRows : bColumns;
  if (depthA !== depthB)
    throw new ShapeError(`matmul: inner dimensions differ (${depthA} vs ${depthB}) for ${describe()}`);
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batchesMatch =
    batchA.length === batchB.length && batchA.every((extent, axis) => extent === batchB[axis]);
  if (!batchesMatch && batchA.length > 0 && batchB.length > 0) {
    throw new ShapeError(
      `matmul: batch axes ${formatShape(batchA)} and ${formatShape(batchB)} differ for ${describe()}`,
    );
  }
  const batchShape = batchA.length > 0 ? batchA : batchB;
  return runOperation("matmul", [a, b], { transposeA, transposeB }, () => {
    const aView = makeView(a, [sizeOfShape(batchA), aRows, aColumns]);
    const bView = makeView(b, [sizeOfShape(batchB), bRows, bColumns]);
    const product = runKernel("matmul", [aView, bView], { transposeA, transposeB });
    aView.dispose();
    bView.dispose();
    const output = makeView(product, [...batchShape, m, n]);
    product.dispose();
    return output;
  });
}
