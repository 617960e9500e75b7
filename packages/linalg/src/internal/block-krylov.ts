import type { GaussianSource } from "./gaussian.js";
import { type LinearOperator, transposedOperator } from "./linear-operator.js";
import { gramOfRows, type Matrix, multiplyMatrices, transposeMatrix } from "./matrix.js";
import { orthonormalizeAgainst, orthonormalRows } from "./orthonormalize.js";
import { type SvdFactors, thinSvd } from "./svd-core.js";

/** Settings of {@link blockKrylovTopK}. */
export interface BlockKrylovOptions {
  /** Number of leading singular triplets wanted. */
  readonly rank: number;
  /** Vectors added to the basis per step (≥ rank for clustered spectra). */
  readonly blockSize: number;
  /** Largest basis before a restart from the current Ritz vectors. */
  readonly maxBasisSize: number;
  /** Converged when every ‖A·v_i − σ_i·u_i‖ ≤ tolerance·σ_1 for i < rank. */
  readonly tolerance: number;
  /** Most block steps (each costs one product with Aᵀ and one with A); also stops when 5 steps gain < 10 %. */
  readonly maxIterations: number;
}

/** Top-k factors (as rows) plus the convergence record. */
export interface BlockKrylovResult extends SvdFactors {
  /** Block steps taken. */
  readonly iterations: number;
  /** max_i ‖A·v_i − σ_i·u_i‖ / σ_1 over the returned triplets (0 when A = 0). */
  readonly residual: number;
  readonly converged: boolean;
}

/**
 * Top-k SVD by restarted block Lanczos (block Krylov in A·Aᵀ) with full reorthogonalisation and
 * Rayleigh–Ritz. The basis Q (orthonormal rows, length m) grows by Q_{j+1} = orth(A·Aᵀ·Q_j ⊥ Q). With
 * W = Aᵀ·Q and P = A·W kept, the Rayleigh quotient is Qᵀ·A = Wᵀ: its SVD W = Z·Σ·Yᵀ (through the Gram
 * matrix Wᵀ·W, see {@link rayleighRitz}) gives Ritz triplets u_i = Q·y_i, σ_i, v_i = z_i, and the residual
 * needs no extra product: A·v_i − σ_i·u_i = P·y_i/σ_i − σ_i·Q·y_i.
 * Since Aᵀ·u_i = σ_i·v_i holds exactly, that residual bounds the error of the triplet.
 */
export function blockKrylovTopK(
  input: LinearOperator,
  options: BlockKrylovOptions,
  gaussian: GaussianSource,
): BlockKrylovResult {
  if (input.rows < input.cols) {
    const result = blockKrylovTopK(transposedOperator(input), options, gaussian);
    return { ...result, ut: result.vt, vt: result.ut };
  }
  const operator = input;
  const { rank, tolerance, maxIterations } = options;
  const dimension = operator.cols;
  const blockSize = Math.min(options.blockSize, dimension);
  const maxBasisSize = Math.min(Math.max(options.maxBasisSize, 2 * blockSize), dimension);
  const randomRows = (count: number): Matrix => transposeMatrix(gaussian(operator.rows, count));

  let basis = orthonormalRows(operator.apply(transposeMatrix(gaussian(dimension, blockSize))));
  let transposedProducts = emptyRows(operator.cols);
  let products = emptyRows(operator.rows);
  let block = basis;
  basis = emptyRows(operator.rows);
  let iterations = 0;
  let best: BlockKrylovResult | undefined;
  const history: number[] = [];
  while (true) {
    const blockTransposedProducts = operator.applyTransposed(block);
    const blockProducts = operator.apply(blockTransposedProducts);
    iterations++;
    basis = appendRows(basis, block);
    transposedProducts = appendRows(transposedProducts, blockTransposedProducts);
    products = appendRows(products, blockProducts);

    const ritz = rayleighRitz(basis, transposedProducts, products, rank);
    best = { ...ritz, iterations, converged: false };
    const exhausted = basis.rows >= dimension;
    if (ritz.residual <= tolerance || exhausted) {
      return { ...best, converged: true };
    }
    if (iterations >= maxIterations) return best;
    // Stagnation (the residual floor of float32 products, say): no 10 % gain over five steps.
    history.push(ritz.residual);
    if (history.length > 5 && ritz.residual > 0.9 * (history[history.length - 6] as number)) return best;

    // The next block spans A·Aᵀ·Q_j ⊥ span(Q): it holds the residual directions of every Ritz vector, so it is
    // formed against the full basis before any restart.
    const nextSize = Math.min(blockSize, dimension - basis.rows);
    const candidates: Matrix = {
      rows: nextSize,
      cols: operator.rows,
      data: blockProducts.data.slice(0, nextSize * operator.rows),
    };
    block = orthonormalizeAgainst(candidates, basis, randomRows);
    if (basis.rows + block.rows > maxBasisSize) {
      // Thick restart: keep the leading Ritz vectors (and their products, recombined) as the new basis.
      const keep = Math.min(ritz.keepCoefficients.rows, maxBasisSize - block.rows);
      const coefficients: Matrix = {
        rows: keep,
        cols: ritz.keepCoefficients.cols,
        data: ritz.keepCoefficients.data.subarray(0, keep * ritz.keepCoefficients.cols),
      };
      basis = multiplyMatrices(coefficients, basis);
      transposedProducts = multiplyMatrices(coefficients, transposedProducts);
      products = multiplyMatrices(coefficients, products);
    }
  }
}

interface RitzApproximation extends SvdFactors {
  readonly residual: number;
  /** Coefficients (rows) of all Ritz vectors in the current basis, leading first: used for restarts. */
  readonly keepCoefficients: Matrix;
}

/**
 * Rayleigh–Ritz on span(Q) through the Gram matrix G = Wᵀ·W = Qᵀ·A·Aᵀ·Q (K × K, W = Aᵀ·Q): its eigenpairs
 * (λ_i, y_i) give σ_i = √λ_i, u_i = Q·y_i and v_i = W·y_i/σ_i. Forming G costs K²·n instead of the K²·(m + n)
 * of an SVD of W, and float64 keeps the leading σ_i accurate to ~1e-16·σ₁²/σ_i².
 */
function rayleighRitz(
  basis: Matrix,
  transposedProducts: Matrix,
  products: Matrix,
  rank: number,
): RitzApproximation {
  const size = transposedProducts.rows;
  const gram = gramOfRows(transposedProducts);
  // G is symmetric positive semidefinite, so its SVD is its eigendecomposition (rows of ut are the y_iᵀ).
  const eigen = thinSvd(gram);
  const count = Math.min(rank, size);
  let coefficients = eigen.ut;
  let s = Float64Array.from(eigen.s.subarray(0, count), (value) => Math.sqrt(value));
  let vt: Matrix | undefined;
  if (!((s[count - 1] as number) >= 1e-4 * (s[0] as number)) || s[0] === 0) {
    // Small σ_i lose accuracy through G (absolute error ~1e-16·σ₁² in σ_i²) and zero ones have no v_i = W·y_i/σ_i:
    // take the SVD of W itself, whose Vᵀ rows are orthonormal whatever the spectrum.
    const direct = thinSvd(transposedProducts);
    coefficients = direct.ut;
    s = direct.s.slice(0, count);
    vt = { rows: count, cols: direct.vt.cols, data: direct.vt.data.slice(0, count * direct.vt.cols) };
  }
  const leading: Matrix = { rows: count, cols: size, data: coefficients.data.slice(0, count * size) };
  const ut = multiplyMatrices(leading, basis);
  const lifted = multiplyMatrices(leading, products);
  if (vt === undefined) {
    vt = multiplyMatrices(leading, transposedProducts);
    for (let i = 0; i < count; i++) {
      const sigma = s[i] as number;
      const row = vt.data.subarray(i * vt.cols, (i + 1) * vt.cols);
      for (let c = 0; c < row.length; c++) row[c] = (row[c] as number) / sigma;
    }
  }
  const largest = s[0] ?? 0;
  let residual = 0;
  const length = basis.cols;
  for (let i = 0; i < count; i++) {
    const sigma = s[i] as number;
    let sum = 0;
    if (sigma > 0) {
      for (let c = 0; c < length; c++) {
        const difference =
          (lifted.data[i * length + c] as number) / sigma - sigma * (ut.data[i * length + c] as number);
        sum += difference * difference;
      }
    }
    residual = Math.max(residual, largest > 0 ? Math.sqrt(sum) / largest : 0);
  }
  return { ut, s, vt, residual, keepCoefficients: coefficients };
}

function emptyRows(length: number): Matrix {
  return { rows: 0, cols: length, data: new Float64Array(0) };
}

function appendRows(top: Matrix, bottom: Matrix): Matrix {
  const data = new Float64Array((top.rows + bottom.rows) * top.cols);
  data.set(top.data, 0);
  data.set(bottom.data, top.data.length);
  return { rows: top.rows + bottom.rows, cols: top.cols, data };
}
