import { readFileSync } from "node:fs";
import { type Tensor, tensor } from "@peftjs/tensor";
import { Matrix, QrDecomposition, SingularValueDecomposition } from "ml-matrix";

/** A float32 tensor from a safetensors file: a minimal parser (8-byte header length, JSON header, F32 data). */
export function readSafetensors(path: string): Map<string, Tensor> {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, Tensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (info.dtype !== "F32") throw new Error(`${name}: only F32 is needed here, got ${info.dtype}`);
    const [start, end] = info.data_offsets;
    const copy = new Uint8Array(bytes.subarray(dataStart + start, dataStart + end));
    tensors.set(name, tensor(new Float32Array(copy.buffer), info.shape));
  }
  return tensors;
}

/** A small seeded normal source (mulberry32 + Box–Muller), independent of the library under test. */
export function seededNormal(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** An m × k matrix with orthonormal columns: ml-matrix's QR of a Gaussian matrix (an independent oracle). */
export function randomOrthonormalColumns(m: number, k: number, normal: () => number): Matrix {
  const gaussian = new Matrix(m, k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) gaussian.set(i, j, normal());
  return new QrDecomposition(gaussian).orthogonalMatrix.subMatrix(0, m - 1, 0, k - 1);
}

/** A test matrix with a prescribed spectrum. */
export interface SyntheticMatrix {
  /** A = U·diag(spectrum)·Vᵀ rounded to float32. */
  readonly a: Tensor;
  /** The float64 factors, U [m, k], V [n, k], k = spectrum.length. */
  readonly u: Matrix;
  readonly v: Matrix;
  readonly spectrum: readonly number[];
  /** The float64 SVD of the float32-rounded A (ml-matrix), the reference for singular values. */
  readonly referenceValues: number[];
}

/** A = U·diag(spectrum)·Vᵀ with random orthonormal U (m × k) and V (n × k), k = spectrum.length ≤ min(m, n). */
export function syntheticMatrix(
  m: number,
  n: number,
  spectrum: readonly number[],
  seed: number,
): SyntheticMatrix {
  const normal = seededNormal(seed);
  const u = randomOrthonormalColumns(m, spectrum.length, normal);
  const v = randomOrthonormalColumns(n, spectrum.length, normal);
  const scaled = u.clone();
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < spectrum.length; j++) scaled.set(i, j, scaled.get(i, j) * (spectrum[j] as number));
  }
  const product = scaled.mmul(v.transpose());
  const values = Float32Array.from(product.to1DArray());
  const rounded = new Matrix(m, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) rounded.set(i, j, values[i * n + j] as number);
  const reference = new SingularValueDecomposition(rounded, {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
    autoTranspose: true,
  });
  return { a: tensor(values, [m, n]), u, v, spectrum, referenceValues: reference.diagonal };
}

/** A tensor [rows, cols] of a float64 ml-matrix. */
export function toTensor(matrix: Matrix): Tensor {
  return tensor(Float32Array.from(matrix.to1DArray()), [matrix.rows, matrix.columns]);
}

/** max_i |actual_i − expected_i| / |expected_i| over the entries with expected_i ≠ 0. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const reference = expected[i] as number;
    if (reference === 0) continue;
    worst = Math.max(worst, Math.abs((actual[i] as number) - reference) / Math.abs(reference));
  }
  return worst;
}

/** The first `count` columns of a 2-D tensor, as a new tensor. */
export function leadingColumns(matrix: Tensor, count: number): Tensor {
  const [rows, cols] = matrix.shape as [number, number];
  const values = matrix.toFloat32Array();
  const out = new Float32Array(rows * count);
  for (let i = 0; i < rows; i++) out.set(values.subarray(i * cols, i * cols + count), i * count);
  return tensor(out, [rows, count]);
}

/** The first `count` rows of a 2-D tensor, transposed: the leading right singular vectors of a Vᵀ as columns. */
export function leadingRowsAsColumns(matrix: Tensor, count: number): Tensor {
  const cols = matrix.shape[1] as number;
  const values = matrix.toFloat32Array();
  const out = new Float32Array(cols * count);
  for (let r = 0; r < count; r++)
    for (let c = 0; c < cols; c++) out[c * count + r] = values[r * cols + c] as number;
  return tensor(out, [cols, count]);
}
