import type { GaussianSource } from "./gaussian.js";
import { type LinearOperator, transposedOperator } from "./linear-operator.js";
import { type Matrix, multiplyMatrices, transposeMatrix } from "./matrix.js";
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
  /** Most block steps (each costs one product with Aᵀ and one with A). */
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
 * W = Aᵀ·Q and P = A·W kept, the Rayleigh quotient is Qᵀ·A = Wᵀ: its SVD W = Z·Σ·Yᵀ gives Ritz triplets
 * u_i = Q·y_i, σ_i, v_i = z_i, and the residual needs no extra product: A·v_i − σ_i·u_i = P·y_i/σ_i − σ_i·Q·y_i.
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

/** Rayleigh–Ritz on span(Q): SVD of W (= Aᵀ·Q as rows) and the residuals of the leading `rank` triplets. */
function rayleighRitz(
  basis: Matrix,
  transposedProducts: Matrix,
  products: Matrix,
  rank: number,
): RitzApproximation {
  // Rows of `transposedProducts` are w_r = Aᵀ·q_r, so it is the K × n matrix Wᵀ = Qᵀ·A whose SVD Y·Σ·Zᵀ we need.
  const small = thinSvd(transposedProducts);
  const count = Math.min(rank, small.s.length);
  const coefficients = small.ut; // rows are y_iᵀ
  const leading: Matrix = {
    rows: count,
    cols: coefficients.cols,
    data: coefficients.data.slice(0, count * coefficients.cols),
  };
  const ut = multiplyMatrices(leading, basis);
  const lifted = multiplyMatrices(leading, products);
  const largest = small.s[0] ?? 0;
  let residual = 0;
  const length = basis.cols;
  for (let i = 0; i < count; i++) {
    const sigma = small.s[i] as number;
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
  const vt: Matrix = {
    rows: count,
    cols: small.vt.cols,
    data: small.vt.data.slice(0, count * small.vt.cols),
  };
  return { ut, s: small.s.slice(0, count), vt, residual, keepCoefficients: coefficients };
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
