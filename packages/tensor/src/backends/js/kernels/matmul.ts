import type { KernelAttributeMap } from "../../../backend/backend.js";
import { type CpuTensor, float32Tensor, input } from "../cpu-tensor.js";

/** Rows of B processed per cache block in the i-k-j loop (64 rows × 1024 columns × 4 B = 256 KiB). */
const depthBlock = 64;
/** Rows of C kept hot per block when A is transposed. */
const rowBlock = 32;

/**
 * Reference batched matrix product, float64 accumulation. `a` is `[batchA, m, k]` (`[batchA, k, m]` with
 * `transposeA`), `b` is `[batchB, k, n]` (`[batchB, n, k]` with `transposeB`).
 *
 * Loop orders avoid materialising transposes: C = A·B streams rows of B (i-k-j, blocked over k);
 * C = A·Bᵀ is a dot product of two contiguous rows; C = Aᵀ·B walks rows of Aᵀ and B in step (k-i-j, blocked
 * over i); only Aᵀ·Bᵀ copies (B is transposed once per batch, then Aᵀ·B is used).
 */
export function matmulKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["matmul"],
): CpuTensor {
  const a = input(inputs, 0);
  const b = input(inputs, 1);
  const [batchA, aRows, aColumns] = a.shape as [number, number, number];
  const [batchB, bRows, bColumns] = b.shape as [number, number, number];
  const m = attributes.transposeA ? aColumns : aRows;
  const depth = attributes.transposeA ? aRows : aColumns;
  const n = attributes.transposeB ? bRows : bColumns;
  const batch = Math.max(batchA, batchB);
  const output = new Float32Array(batch * m * n);
  const accumulator = new Float64Array(m * n);
  const aValues = a.values;
  const bValues = b.values;
  const aStride = batchA === 1 ? 0 : m * depth;
  const bStride = batchB === 1 ? 0 : depth * n;
  for (let index = 0; index < batch; index++) {
    const aOffset = index * aStride;
    const bOffset = index * bStride;
    accumulator.fill(0);
    if (!attributes.transposeA && !attributes.transposeB) {
      productPlain(aValues, aOffset, bValues, bOffset, accumulator, m, depth, n);
    } else if (!attributes.transposeA) {
      productTransposedB(aValues, aOffset, bValues, bOffset, accumulator, m, depth, n);
    } else if (!attributes.transposeB) {
      productTransposedA(aValues, aOffset, bValues, bOffset, accumulator, m, depth, n);
    } else {
      // Aᵀ·Bᵀ: transpose B ([n, k] → [k, n]) once, then Aᵀ·B.
      const bTransposed = new Float64Array(depth * n);
      for (let row = 0; row < n; row++) {
        for (let column = 0; column < depth; column++) {
          bTransposed[column * n + row] = bValues[bOffset + row * depth + column]!;
        }
      }
      productTransposedA(aValues, aOffset, bTransposed, 0, accumulator, m, depth, n);
    }
    output.set(accumulator, index * m * n);
  }
  return float32Tensor(output, [batch, m, n]);
}

type Values = ArrayLike<number>;

/** C += A·B with A `[m, depth]`, B `[depth, n]`: i-k-j order, blocked over k so a slab of B stays in cache. */
function productPlain(
  a: Values,
  aOffset: number,
  b: Values,
  bOffset: number,
  c: Float64Array,
  m: number,
  depth: number,
  n: number,
): void {
  for (let depthStart = 0; depthStart < depth; depthStart += depthBlock) {
    const depthEnd = Math.min(depth, depthStart + depthBlock);
    for (let row = 0; row < m; row++) {
      const cRow = row * n;
      const aRow = aOffset + row * depth;
      for (let inner = depthStart; inner < depthEnd; inner++) {
        const aValue = a[aRow + inner]!;
        const bRow = bOffset + inner * n;
        for (let column = 0; column < n; column++) c[cRow + column]! += aValue * b[bRow + column]!;
      }
    }
  }
}

/** C += A·Bᵀ with A `[m, depth]`, B `[n, depth]`: contiguous dot products, four columns of C at a time. */
function productTransposedB(
  a: Values,
  aOffset: number,
  b: Values,
  bOffset: number,
  c: Float64Array,
  m: number,
  depth: number,
  n: number,
): void {
  for (let row = 0; row < m; row++) {
    const aRow = aOffset + row * depth;
    let column = 0;
    for (; column + 4 <= n; column += 4) {
      const b0 = bOffset + column * depth;
      const b1 = b0 + depth;
      const b2 = b1 + depth;
      const b3 = b2 + depth;
      let sum0 = 0;
      let sum1 = 0;
      let sum2 = 0;
      let sum3 = 0;
      for (let inner = 0; inner < depth; inner++) {
        const aValue = a[aRow + inner]!;
        sum0 += aValue * b[b0 + inner]!;
        sum1 += aValue * b[b1 + inner]!;
        sum2 += aValue * b[b2 + inner]!;
        sum3 += aValue * b[b3 + inner]!;
      }
      c[row * n + column] = sum0;
      c[row * n + column + 1] = sum1;
      c[row * n + column + 2] = sum2;
      c[row * n + column + 3] = sum3;
    }
    for (; column < n; column++) {
      const bRow = bOffset + column * depth;
      let sum = 0;
      for (let inner = 0; inner < depth; inner++) sum += a[aRow + inner]! * b[bRow + inner]!;
      c[row * n + column] = sum;
    }
  }
}

/** C += Aᵀ·B with A `[depth, m]`, B `[depth, n]`: k-i-j order, blocked over rows of C. */
function productTransposedA(
  a: Values,
  aOffset: number,
  b: Values,
  bOffset: number,
  c: Float64Array,
  m: number,
  depth: number,
  n: number,
): void {
  for (let rowStart = 0; rowStart < m; rowStart += rowBlock) {
    const rowEnd = Math.min(m, rowStart + rowBlock);
    for (let inner = 0; inner < depth; inner++) {
      const aRow = aOffset + inner * m;
      const bRow = bOffset + inner * n;
      for (let row = rowStart; row < rowEnd; row++) {
        const aValue = a[aRow + row]!;
        const cRow = row * n;
        for (let column = 0; column < n; column++) c[cRow + column]! += aValue * b[bRow + column]!;
      }
    }
  }
}
