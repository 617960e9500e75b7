import { descendingOrder, type Matrix } from "./matrix.js";

/** The eigensystem of a small symmetric matrix. */
export interface SymmetricEigen {
  /** Eigenvalues, descending. */
  readonly values: Float64Array;
  /** The matching orthonormal eigenvectors as the rows of an n × n matrix. */
  readonly vectors: Matrix;
}

/** Sweeps after which {@link jacobiEigen} gives up converging further (it converges quadratically: 6–10). */
const maximumSweeps = 60;

/**
 * Eigenvalues and eigenvectors of a small symmetric matrix (the q × q Gram matrix of a randomized SVD) by the
 * cyclic Jacobi method (Golub & Van Loan, Matrix Computations, §8.5): each rotation zeroes one off-diagonal pair
 * (p, q) with t = sgn(θ)/(|θ| + √(θ² + 1)), θ = (a_qq − a_pp)/(2·a_pq), and sweeps repeat until every
 * off-diagonal entry is below ε·√(a_pp·a_qq) relative to its diagonal pair (Demmel & Veselić: then the
 * eigenvalues of a positive semidefinite matrix are accurate to a few ulps of themselves, not only of ‖A‖).
 * Reads only the lower triangle. It is short, branch-light code that is fast from its first call, where
 * the bidiagonal SVD (Householder reduction, implicit QR sweeps) spends its first calls in V8's interpreter.
 */
export function jacobiEigen(symmetric: Matrix): SymmetricEigen {
  const n = symmetric.rows;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const value = symmetric.data[i * n + j] as number;
      a[i * n + j] = value;
      a[j * n + i] = value;
    }
  }
  // Columns of v are the eigenvectors; rotations are applied to its columns p and q.
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < maximumSweeps; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q] as number;
        const app = a[p * n + p] as number;
        const aqq = a[q * n + q] as number;
        if (apq === 0 || Math.abs(apq) <= Number.EPSILON * Math.sqrt(Math.abs(app * aqq))) continue;
        rotated = true;
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ·A·J with J the rotation in the (p, q) plane: rows and columns p and q.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p] as number;
          const akq = a[k * n + q] as number;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k] as number;
          const aqk = a[q * n + k] as number;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        // The pair is zero by construction (and the diagonal exact to rounding): set it, as LAPACK does.
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p] as number;
          const vkq = v[k * n + q] as number;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
    if (!rotated) break;
  }
  // Eigenvalues descending (ties in index order); eigenvector i becomes row i.
  const diagonal = new Float64Array(n);
  for (let i = 0; i < n; i++) diagonal[i] = a[i * (n + 1)] as number;
  const order = descendingOrder(diagonal);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let row = 0; row < n; row++) {
    const column = order[row] as number;
    values[row] = diagonal[column] as number;
    for (let k = 0; k < n; k++) vectors[row * n + k] = v[k * n + column] as number;
  }
  return { values, vectors: { rows: n, cols: n, data: vectors } };
}
