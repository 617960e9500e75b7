import { matmul, type Tensor, tensor } from "@peftjs/tensor";
import type { GaussianSource } from "./gaussian.js";
import { jacobiEigen } from "./jacobi-eigen.js";
import { type Matrix, transposeMatrix } from "./matrix.js";
import { householderQrOfColumns } from "./qr-core.js";
import { type SvdFactors, thinSvd } from "./svd-core.js";

/**
 * {@link randomizedSvd}'s steps (torch.svd_lowrank) with every product and every re-orthonormalisation on the
 * @peftjs/tensor backend, in float32 as torch computes: the q vectors are the rows of a q × m or q × n tensor
 * (the left operand), A is the right operand as stored (`matmul(X, A)` or `matmul(X, A, {transposeB})`, so
 * a wide A needs no transposed copy either), and only q × q and q × n matrices come back to the host.
 *
 * Orthonormalisation is CholeskyQR (Fujiwara et al. 2015; Yamamoto et al. 2015): G = Y·Yᵀ on the backend,
 * G = RᵀR in float64 on the host, Q = R⁻ᵀ·Y on the backend — once between power iterations, twice (CholeskyQR2)
 * for the final basis. It spans the same space as torch's
 * Householder `qr(Y).Q` — and every step of svd_lowrank depends on that space only (B = QᵀA, U = Q·Û give
 * Q·Qᵀ·A whatever the basis), so the result is the same up to round-off and signs. It needs κ(Y) well below
 * 1/√ε of float32: where a Cholesky pivot says otherwise (κ ≳ 300: a rank-deficient A, a very steep spectrum),
 * that step takes the float64 Householder QR on the host instead. `check` sees the first product.
 */
export function backendRandomizedSvd(
  a: Tensor,
  rank: number,
  powerIterations: number,
  gaussian: GaussianSource,
  check: (product: Float32Array) => void,
): SvdFactors {
  const rows = a.shape[0] as number;
  const cols = a.shape[1] as number;
  // torch transposes a wide A; here only the roles of the two products swap. "Tall" side = max(m, n).
  const wide = rows < cols;
  const shortLength = Math.min(rows, cols);
  // Rows x of the short side's length → rows of A·x (the long side), and back with Aᵀ.
  const toTall = (vectors: Tensor) => matmul(vectors, a, { transposeB: !wide });
  const toShort = (vectors: Tensor) => matmul(vectors, a, { transposeB: wide });

  // R is drawn as torch's randn(n, q) (n = the short side); its columns are the test vectors.
  const testVectors = transposeMatrix(gaussian(shortLength, rank));
  const start = upload(testVectors);
  const first = toTall(start);
  start.dispose();
  check(first.toFloat32Array());
  // Between products only the span of the rows matters: one CholeskyQR pass keeps the basis well conditioned
  // (‖QQᵀ − I‖ ≲ κ(Y)²·ε₃₂ ≤ 1e5·6e-8 under the pivot floor). The basis that B = QᵀA is projected on must be
  // orthonormal to round-off, so the last one gets the second pass (CholeskyQR2).
  const last = 2 * powerIterations;
  let step = 0;
  const orthonormalize = (vectors: Tensor) => orthonormalRows(vectors, step++ === last ? 2 : 1);
  let basis = orthonormalize(first);
  for (let iteration = 0; iteration < powerIterations; iteration++) {
    const back = toShort(basis);
    basis.dispose();
    const short = orthonormalize(back);
    const forth = toTall(short);
    short.dispose();
    basis = orthonormalize(forth);
  }
  // B = Qᵀ·A (q × short): its SVD B = Û·S·Vᵀ gives U = Q·Û, i.e. the rows Ûᵀ·Qᵀ.
  const projected = toShort(basis);
  const small = smallSvd(projected);
  const combination = upload(small.ut);
  const left = matmul(combination, basis);
  combination.dispose();
  basis.dispose();
  const ut = download(left);
  return wide ? { ut: small.vt, s: small.s, vt: ut } : { ut, s: small.s, vt: small.vt };
}

/**
 * SVD of the wide q × n matrix B = Qᵀ·A (a backend tensor, consumed) through its Gram matrix: B·Bᵀ = Û·S²·Ûᵀ
 * (a q × q symmetric eigenproblem, cyclic Jacobi in float64, exact to ~1e-16·(σ₁/σ_q)²), then
 * Vᵀ = S⁻¹·Ûᵀ·B as one backend product — unless σ_q < 1e-4·σ₁, where the dense SVD of B is taken. For q = 16
 * and n = 576 this is a tenth of the dense SVD's time.
 */
function smallSvd(projected: Tensor): SvdFactors {
  try {
    return gramSvd(projected);
  } finally {
    projected.dispose();
  }
}

/** {@link smallSvd} without releasing `projected`. */
function gramSvd(projected: Tensor): SvdFactors {
  const b = download(projected, false);
  const { rows: q, cols: n } = b;
  const data = b.data;
  const gram = new Float64Array(q * q);
  for (let i = 0; i < q; i++) {
    const rowI = i * n;
    for (let j = 0; j <= i; j++) {
      const rowJ = j * n;
      // Four partial sums: independent chains of multiply-adds instead of one (4× fewer stalls on the adder).
      let sum0 = 0;
      let sum1 = 0;
      let sum2 = 0;
      let sum3 = 0;
      let c = 0;
      for (; c + 3 < n; c += 4) {
        sum0 += (data[rowI + c] as number) * (data[rowJ + c] as number);
        sum1 += (data[rowI + c + 1] as number) * (data[rowJ + c + 1] as number);
        sum2 += (data[rowI + c + 2] as number) * (data[rowJ + c + 2] as number);
        sum3 += (data[rowI + c + 3] as number) * (data[rowJ + c + 3] as number);
      }
      for (; c < n; c++) sum0 += (data[rowI + c] as number) * (data[rowJ + c] as number);
      const sum = sum0 + sum1 + (sum2 + sum3);
      gram[i * q + j] = sum;
      gram[j * q + i] = sum;
    }
  }
  // G is symmetric positive semidefinite: its eigenvectors are the columns of Û, its eigenvalues S² (round-off
  // may leave the smallest a hair below zero).
  const eigen = jacobiEigen({ rows: q, cols: q, data: gram });
  const s = Float64Array.from(eigen.values, (value) => Math.sqrt(Math.max(value, 0)));
  if (!((s[q - 1] as number) >= 1e-4 * (s[0] as number))) return thinSvd(b);
  const ut = eigen.vectors;
  const combination = new Float64Array(q * q);
  for (let i = 0; i < q; i++) {
    const scale = 1 / (s[i] as number);
    for (let l = 0; l < q; l++) combination[i * q + l] = (ut.data[i * q + l] as number) * scale;
  }
  const factor = upload({ rows: q, cols: q, data: combination });
  const vt = matmul(factor, projected);
  factor.dispose();
  return { ut, s, vt: download(vt) };
}

/** A float32 tensor of a float64 matrix. */
function upload(values: Matrix): Tensor {
  return tensor(Float32Array.from(values.data), [values.rows, values.cols]);
}

/** A tensor's values as a float64 matrix; releases the tensor unless `release` is false. */
function download(value: Tensor, release = true): Matrix {
  const result: Matrix = {
    rows: value.shape[0] as number,
    cols: value.shape[1] as number,
    data: Float64Array.from(value.toFloat32Array()),
  };
  if (release) value.dispose();
  return result;
}

/** Cholesky pivots below this fraction of the largest diagonal entry of G (κ(Y)² ≳ 1e5) send Y to Householder. */
const pivotFloor = 1e-5;

/**
 * Orthonormal rows spanning the rows of `vectors` (consumed): `passes` rounds of CholeskyQR on the backend (2 =
 * CholeskyQR2, orthonormal to float32 round-off; 1 = a well-conditioned basis of the same span), or the
 * Householder QR of the rows in float64 when the Gram matrix is too ill-conditioned for it.
 */
function orthonormalRows(vectors: Tensor, passes: 1 | 2): Tensor {
  let current = vectors;
  for (let pass = 0; pass < passes; pass++) {
    const gram = matmul(current, current, { transposeB: true });
    const inverse = inverseCholeskyFactor(download(gram));
    if (inverse === undefined) return householderRows(current);
    const factor = upload(inverse);
    const next = matmul(factor, current);
    factor.dispose();
    current.dispose();
    current = next;
  }
  return current;
}

/** The float64 Householder Q (as rows) of the rows of `vectors` (consumed), uploaded. */
function householderRows(vectors: Tensor): Tensor {
  return upload(householderQrOfColumns(download(vectors)).qt);
}

/**
 * R⁻ᵀ for the Cholesky factor of the symmetric G = RᵀR (R upper triangular), in float64; undefined when a
 * pivot falls below {@link pivotFloor} of G's largest diagonal entry (or is not positive).
 */
function inverseCholeskyFactor(gram: Matrix): Matrix | undefined {
  const size = gram.rows;
  const g = gram.data;
  let largest = 0;
  for (let i = 0; i < size; i++) largest = Math.max(largest, g[i * size + i] as number);
  if (!(largest > 0)) return undefined;
  // Lower factor L = Rᵀ, row by row: G = L·Lᵀ.
  const lower = new Float64Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0.5 * ((g[i * size + j] as number) + (g[j * size + i] as number));
      for (let k = 0; k < j; k++) sum -= (lower[i * size + k] as number) * (lower[j * size + k] as number);
      if (i === j) {
        if (!(sum > pivotFloor * largest)) return undefined;
        lower[i * size + i] = Math.sqrt(sum);
      } else {
        lower[i * size + j] = sum / (lower[j * size + j] as number);
      }
    }
  }
  // L⁻¹ by forward substitution, column by column of the identity.
  const inverse = new Float64Array(size * size);
  for (let column = 0; column < size; column++) {
    for (let i = column; i < size; i++) {
      let sum = i === column ? 1 : 0;
      for (let k = column; k < i; k++)
        sum -= (lower[i * size + k] as number) * (inverse[k * size + column] as number);
      inverse[i * size + column] = sum / (lower[i * size + i] as number);
    }
  }
  // Q = R⁻ᵀ·Y with R⁻ᵀ = (Lᵀ)⁻ᵀ = L⁻¹.
  return { rows: size, cols: size, data: inverse };
}
