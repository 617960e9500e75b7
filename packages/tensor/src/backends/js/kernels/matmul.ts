import type { KernelAttributeMap } from "../../../backend/backend.js";
import { type CpuTensor, float32Tensor, input, numericValues } from "../cpu-tensor.js";

/**
 * Depth of one cache block: a 2-row slab of A and a 4-row slab of Bᵀ of this length (6 × 256 × 4 B = 6 KiB)
 * stay in L1 while the block is swept, and the whole Bᵀ block (256 × n × 4 B, 1 MiB at n = 1024) in L2.
 */
const depthBlock = 256;
/** Columns of C per cache block: the Bᵀ block swept for every pair of rows is 128 × 256 × 4 B = 128 KiB (L2). */
const columnBlock = 128;

type Values = ArrayLike<number>;

/** Row-major `[columns, rows]` copy of a `[rows, columns]` matrix stored at `offset`. */
function transposed(values: Values, offset: number, rows: number, columns: number): Float32Array {
  const output = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const source = offset + row * columns;
    for (let column = 0; column < columns; column++) output[column * rows + row] = values[source + column]!;
  }
  return output;
}

/**
 * Reference batched matrix product, accumulated in float64 and rounded once to float32. `a` is
 * `[batchA, m, k]` (`[batchA, k, m]` with `transposeA`), `b` is `[batchB, k, n]` (`[batchB, n, k]` with
 * `transposeB`); a batch of 1 is broadcast.
 *
 * Every product is computed as dot products of rows of A (`[m, k]`) with rows of Bᵀ (`[n, k]`), both contiguous,
 * in 2×4 register blocks (6 loads per 8 multiply-adds) and cache blocks of {@link depthBlock} along k. The
 * operands already in that layout (A untransposed, B transposed) are used in place; the other ones are packed
 * once per batch, an O(k·(m+n)) copy against O(m·k·n) work. float16/bfloat16 operands are widened to float32
 * first (this is the readable reference; the wasm backend widens panel by panel).
 */
export function matmulKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["matmul"],
): CpuTensor {
  const a = { ...input(inputs, 0), values: numericValues(input(inputs, 0)) };
  const b = { ...input(inputs, 1), values: numericValues(input(inputs, 1)) };
  const [batchA, aRows, aColumns] = a.shape as [number, number, number];
  const [batchB, bRows, bColumns] = b.shape as [number, number, number];
  const m = attributes.transposeA ? aColumns : aRows;
  const depth = attributes.transposeA ? aRows : aColumns;
  const n = attributes.transposeB ? bRows : bColumns;
  const batch = Math.max(batchA, batchB);
  const output = new Float32Array(batch * m * n);
  const accumulator = new Float64Array(m * n);
  let packedA: { values: Values; offset: number; batch: number } | undefined;
  let packedB: { values: Values; offset: number; batch: number } | undefined;
  for (let index = 0; index < batch; index++) {
    const aBatch = batchA === 1 ? 0 : index;
    const bBatch = batchB === 1 ? 0 : index;
    if (packedA?.batch !== aBatch) {
      const offset = aBatch * m * depth;
      packedA = attributes.transposeA
        ? { values: transposed(a.values, offset, depth, m), offset: 0, batch: aBatch }
        : { values: a.values, offset, batch: aBatch };
    }
    if (packedB?.batch !== bBatch) {
      const offset = bBatch * depth * n;
      packedB = attributes.transposeB
        ? { values: b.values, offset, batch: bBatch }
        : { values: transposed(b.values, offset, depth, n), offset: 0, batch: bBatch };
    }
    accumulator.fill(0);
    rowDotProducts(packedA.values, packedA.offset, packedB.values, packedB.offset, accumulator, m, depth, n);
    output.set(accumulator, index * m * n);
  }
  return float32Tensor(output, [batch, m, n]);
}

/** C += A·Bᵀ for A `[m, depth]` at `aOffset` and B `[n, depth]` at `bOffset` (row-major, contiguous rows). */
function rowDotProducts(
  a: Values,
  aOffset: number,
  b: Values,
  bOffset: number,
  c: Float64Array,
  m: number,
  depth: number,
  n: number,
): void {
  const evenRows = m - (m % 2);
  const quadColumns = n - (n % 4);
  for (let start = 0; start < depth; start += depthBlock) {
    const end = Math.min(depth, start + depthBlock);
    for (let columnStart = 0; columnStart < quadColumns; columnStart += columnBlock) {
      const columnEnd = Math.min(quadColumns, columnStart + columnBlock);
      for (let row = 0; row < evenRows; row += 2) {
        const a0 = aOffset + row * depth;
        const a1 = a0 + depth;
        const c0 = row * n;
        const c1 = c0 + n;
        for (let column = columnStart; column < columnEnd; column += 4) {
          const b0 = bOffset + column * depth;
          const b1 = b0 + depth;
          const b2 = b1 + depth;
          const b3 = b2 + depth;
          let s00 = 0;
          let s01 = 0;
          let s02 = 0;
          let s03 = 0;
          let s10 = 0;
          let s11 = 0;
          let s12 = 0;
          let s13 = 0;
          for (let inner = start; inner < end; inner++) {
            const x0 = a[a0 + inner]!;
            const x1 = a[a1 + inner]!;
            const y0 = b[b0 + inner]!;
            const y1 = b[b1 + inner]!;
            const y2 = b[b2 + inner]!;
            const y3 = b[b3 + inner]!;
            s00 += x0 * y0;
            s01 += x0 * y1;
            s02 += x0 * y2;
            s03 += x0 * y3;
            s10 += x1 * y0;
            s11 += x1 * y1;
            s12 += x1 * y2;
            s13 += x1 * y3;
          }
          c[c0 + column]! += s00;
          c[c0 + column + 1]! += s01;
          c[c0 + column + 2]! += s02;
          c[c0 + column + 3]! += s03;
          c[c1 + column]! += s10;
          c[c1 + column + 1]! += s11;
          c[c1 + column + 2]! += s12;
          c[c1 + column + 3]! += s13;
        }
      }
    }
    for (let row = 0; row < evenRows; row += 2) {
      const a0 = aOffset + row * depth;
      const a1 = a0 + depth;
      const c0 = row * n;
      const c1 = c0 + n;
      for (let column = quadColumns; column < n; column++) {
        const b0 = bOffset + column * depth;
        let s0 = 0;
        let s1 = 0;
        for (let inner = start; inner < end; inner++) {
          const y = b[b0 + inner]!;
          s0 += a[a0 + inner]! * y;
          s1 += a[a1 + inner]! * y;
        }
        c[c0 + column]! += s0;
        c[c1 + column]! += s1;
      }
    }
    for (let row = evenRows; row < m; row++) {
      const a0 = aOffset + row * depth;
      for (let column = 0; column < n; column++) {
        const b0 = bOffset + column * depth;
        let sum = 0;
        for (let inner = start; inner < end; inner++) sum += a[a0 + inner]! * b[b0 + inner]!;
        c[row * n + column]! += sum;
      }
    }
  }
}
