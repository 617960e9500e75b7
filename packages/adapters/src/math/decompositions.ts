import type { RandomGenerator } from "@peftjs/tensor";
import { AdapterShapeError } from "../errors.js";
import type { Matrix } from "./matrix.js";

// The decompositions the inits, the `svd` combination and recompression need, on this package's small float32
// matrices (adapter deltas and single Linear weights), computed in float64 and rounded once. They are kept
// inside the package because @peftjs/linalg had no public API yet when this was written; see the README.

/** A (truncated) SVD a ≈ left · diag(singularValues) · rightTransposed, singular values descending. */
export interface SvdFactors {
  /** U_k, [rows, k]. */
  readonly left: Matrix;
  /** S_k, descending, non-negative. */
  readonly singularValues: Float64Array;
  /** V_kᵀ, [k, columns]. */
  readonly rightTransposed: Matrix;
}

/** A reduced QR factorisation a = q · r. */
export interface QrFactors {
  /** Q, [rows, k] with orthonormal columns, k = min(rows, columns). */
  readonly q: Matrix;
  /** R, [k, columns], upper triangular (trapezoidal when wide). */
  readonly r: Matrix;
}

/** Columns of a matrix as float64 arrays (column-major working form). */
function toColumns(a: Matrix): Float64Array[] {
  const columns: Float64Array[] = [];
  for (let j = 0; j < a.columns; j++) {
    const column = new Float64Array(a.rows);
    for (let i = 0; i < a.rows; i++) column[i] = a.data[i * a.columns + j] as number;
    columns.push(column);
  }
  return columns;
}

function dot(x: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += (x[i] as number) * (y[i] as number);
  return sum;
}

/** Applies the plane rotation [c −s; s c] to the column pair (x, y) in place. */
function rotate(x: Float64Array, y: Float64Array, cosine: number, sine: number): void {
  for (let i = 0; i < x.length; i++) {
    const first = x[i] as number;
    const second = y[i] as number;
    x[i] = cosine * first - sine * second;
    y[i] = sine * first + cosine * second;
  }
}

/** Full thin SVD of a tall-or-square matrix by one-sided (Hestenes) Jacobi rotations, in float64. */
function jacobiSvd(a: Matrix): { u: Float64Array[]; s: Float64Array; v: Float64Array[] } {
  const n = a.columns;
  const u = toColumns(a);
  const v: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const column = new Float64Array(n);
    column[j] = 1;
    v.push(column);
  }
  const tolerance = 1e-15;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const up = u[p] as Float64Array;
        const uq = u[q] as Float64Array;
        const alpha = dot(up, up);
        const beta = dot(uq, uq);
        const gamma = dot(up, uq);
        if (Math.abs(gamma) <= tolerance * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        // Rotation that zeroes the (p, q) entry of the Gram matrix: ζ = (β − α)/(2γ), t = sign(ζ)/(|ζ| + √(1 + ζ²))
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cosine = 1 / Math.sqrt(1 + t * t);
        const sine = cosine * t;
        rotate(up, uq, cosine, sine);
        rotate(v[p] as Float64Array, v[q] as Float64Array, cosine, sine);
      }
    }
    if (!rotated) break;
  }
  const s = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const column = u[j] as Float64Array;
    const norm = Math.sqrt(dot(column, column));
    s[j] = norm;
    if (norm > 0) for (let i = 0; i < column.length; i++) column[i] = (column[i] as number) / norm;
  }
  return { u, s, v };
}

/**
 * The top-k singular triplets of `a` (all min(rows, columns) of them when k is larger), exact to float64
 * round-off. Signs are arbitrary, as for any SVD: compare products, not factors.
 */
export function truncatedSvd(a: Matrix, k: number): SvdFactors {
  if (!Number.isInteger(k) || k <= 0)
    throw new AdapterShapeError(`SVD rank must be a positive integer, got ${k}`);
  const wide = a.rows < a.columns;
  const work = wide ? transposeToMatrix(a) : a;
  const { u, s, v } = jacobiSvd(work);
  const order = Array.from(s.keys()).sort((left, right) => (s[right] as number) - (s[left] as number));
  const count = Math.min(k, order.length);
  const picked = order.slice(0, count);
  const leftColumns = picked.map((index) => (wide ? v[index] : u[index]) as Float64Array);
  const rightColumns = picked.map((index) => (wide ? u[index] : v[index]) as Float64Array);
  const left = new Float32Array(a.rows * count);
  const rightTransposed = new Float32Array(count * a.columns);
  for (let c = 0; c < count; c++) {
    const leftColumn = leftColumns[c] as Float64Array;
    for (let i = 0; i < a.rows; i++) left[i * count + c] = leftColumn[i] as number;
    rightTransposed.set(rightColumns[c] as Float64Array, c * a.columns);
  }
  return {
    left: { rows: a.rows, columns: count, data: left },
    singularValues: Float64Array.from(picked, (index) => s[index] as number),
    rightTransposed: { rows: count, columns: a.columns, data: rightTransposed },
  };
}

function transposeToMatrix(a: Matrix): Matrix {
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < a.columns; j++) data[j * a.rows + i] = a.data[i * a.columns + j] as number;
  }
  return { rows: a.columns, columns: a.rows, data };
}

/**
 * Reduced Householder QR with LAPACK's (and so torch.linalg.qr's) conventions: reflector j maps column j to
 * β·e₁ with β = −sign(α)·‖x‖ (α the diagonal entry), and no reflection when the subdiagonal part is zero.
 */
export function reducedQr(a: Matrix): QrFactors {
  const m = a.rows;
  const n = a.columns;
  const k = Math.min(m, n);
  const work = toColumns(a);
  const reflectors: { vector: Float64Array; tau: number }[] = [];
  for (let j = 0; j < k; j++) {
    const column = work[j] as Float64Array;
    const alpha = column[j] as number;
    let tailSquares = 0;
    for (let i = j + 1; i < m; i++) tailSquares += (column[i] as number) ** 2;
    const vector = new Float64Array(m);
    if (tailSquares === 0) {
      reflectors.push({ vector, tau: 0 });
      continue;
    }
    const norm = Math.sqrt(alpha * alpha + tailSquares);
    const beta = alpha >= 0 ? -norm : norm;
    // H = I − τ·v·vᵀ with v = [1; x_tail/(α − β)], τ = (β − α)/β (LAPACK dlarfg)
    const tau = (beta - alpha) / beta;
    vector[j] = 1;
    for (let i = j + 1; i < m; i++) vector[i] = (column[i] as number) / (alpha - beta);
    for (let c = j; c < n; c++) {
      const target = work[c] as Float64Array;
      let projection = 0;
      for (let i = j; i < m; i++) projection += (vector[i] as number) * (target[i] as number);
      projection *= tau;
      for (let i = j; i < m; i++) target[i] = (target[i] as number) - projection * (vector[i] as number);
    }
    reflectors.push({ vector, tau });
  }
  const r = new Float32Array(k * n);
  for (let c = 0; c < n; c++) {
    const column = work[c] as Float64Array;
    for (let i = 0; i <= Math.min(c, k - 1); i++) r[i * n + c] = column[i] as number;
  }
  // Q = H₀·H₁·…·H_{k−1} applied to the first k columns of the identity, innermost reflector first
  const qColumns: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    const column = new Float64Array(m);
    column[c] = 1;
    for (let j = k - 1; j >= 0; j--) {
      const { vector, tau } = reflectors[j] as { vector: Float64Array; tau: number };
      if (tau === 0) continue;
      let projection = 0;
      for (let i = j; i < m; i++) projection += (vector[i] as number) * (column[i] as number);
      projection *= tau;
      for (let i = j; i < m; i++) column[i] = (column[i] as number) - projection * (vector[i] as number);
    }
    qColumns.push(column);
  }
  const q = new Float32Array(m * k);
  for (let c = 0; c < k; c++) {
    const column = qColumns[c] as Float64Array;
    for (let i = 0; i < m; i++) q[i * k + c] = column[i] as number;
  }
  return { q: { rows: m, columns: k, data: q }, r: { rows: k, columns: n, data: r } };
}

function multiplyPlain(a: Matrix, b: Matrix, transposeA = false): Matrix {
  const rows = transposeA ? a.columns : a.rows;
  const inner = transposeA ? a.rows : a.columns;
  const data = new Float32Array(rows * b.columns);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < b.columns; j++) {
      let sum = 0;
      for (let t = 0; t < inner; t++) {
        const left = transposeA
          ? (a.data[t * a.columns + i] as number)
          : (a.data[i * a.columns + t] as number);
        sum += left * (b.data[t * b.columns + j] as number);
      }
      data[i * b.columns + j] = sum;
    }
  }
  return { rows, columns: b.columns, data };
}

/**
 * Randomized SVD with the semantics of `torch.svd_lowrank(a, q, niter)` (Halko, Martinsson & Tropp 2009,
 * Alg. 4.4 + 5.1), as PEFT's `pissa_niter_K` calls it (q = r, no oversampling): a wide input is handled through
 * its transpose; Ω ~ N(0, 1) [n, q] from `generator`; Q = qr(A·Ω).Q; `iterations` times Q = qr(Aᵀ·Q).Q,
 * Q = qr(A·Q).Q; then the exact SVD of Qᵀ·A. Seeded, hence reproducible, but not torch's random stream.
 */
export function randomizedSvd(
  a: Matrix,
  q: number,
  iterations: number,
  generator: RandomGenerator,
): SvdFactors {
  if (a.rows < a.columns) {
    const result = randomizedSvd(transposeToMatrix(a), q, iterations, generator);
    return {
      left: transposeToMatrix(result.rightTransposed),
      singularValues: result.singularValues,
      rightTransposed: transposeToMatrix(result.left),
    };
  }
  const rank = Math.min(q, a.columns);
  const omega: Matrix = {
    rows: a.columns,
    columns: rank,
    data: generator.normalValues(a.columns * rank, 0, 1),
  };
  let basis = reducedQr(multiplyPlain(a, omega)).q;
  for (let iteration = 0; iteration < iterations; iteration++) {
    basis = reducedQr(multiplyPlain(a, basis, true)).q;
    basis = reducedQr(multiplyPlain(a, basis)).q;
  }
  const projected = multiplyPlain(basis, a, true);
  const small = truncatedSvd(projected, rank);
  return {
    left: multiplyPlain(basis, small.left),
    singularValues: small.singularValues,
    rightTransposed: small.rightTransposed,
  };
}
