import type { GaussianSource } from "./gaussian.js";
import { type KrylovSpace, rowNorms } from "./krylov-space.js";
import { type Matrix, transposeMatrix } from "./matrix.js";
import { type SvdFactors, thinSvd } from "./svd-core.js";
import { createSymmetricBand, setBandEntry, topEigenpairsOfBand } from "./symmetric-band-eigen.js";

/** Settings of {@link blockLanczosTopK}. */
export interface BlockLanczosOptions {
  /** Number of leading singular triplets wanted. */
  readonly rank: number;
  /** Vectors added to the basis per step. */
  readonly blockSize: number;
  /** Largest basis; beyond it the iteration restarts thickly from its leading Ritz vectors. */
  readonly maxBasisSize: number;
  /** Converged when every returned triplet has ‖Aᵀ·uᵢ − σᵢ·vᵢ‖ ≤ tolerance·σ₁ (A·vᵢ = σᵢ·uᵢ by construction). */
  readonly tolerance: number;
  /** Most block steps (each costs one product with A and one with Aᵀ). */
  readonly maxIterations: number;
}

/** Top-k factors (as rows, `ut` k × m and `vt` k × n) plus the convergence record. */
export interface BlockLanczosResult extends SvdFactors {
  /** Block steps taken. */
  readonly iterations: number;
  /** max_i ‖Aᵀ·uᵢ − σᵢ·vᵢ‖ / σ₁ of the returned triplets, measured with two extra products (0 when A = 0). */
  readonly residual: number;
  readonly converged: boolean;
}

/**
 * The top-k singular triplets of A by block Lanczos on M = AᵀA (or AAᵀ, whichever is smaller), with full
 * re-orthogonalisation (Golub & Underwood 1977; Golub & Van Loan §10.3.6):
 *
 * - Basis V = [V₁ V₂ …] (orthonormal blocks of `blockSize` vectors on the smaller side of A). Each step forms
 *   M·Vⱼ with two products, projects it off V twice (block CGS2), and factors the rest as V_{j+1}·B_{j+1}
 *   (Gram–Schmidt QR, B upper triangular). Then M·V = V·T + V_{j+1}·B_{j+1}·Eⱼᵀ, where T = VᵀMV is block
 *   tridiagonal: diagonal blocks Aⱼ = VⱼᵀMVⱼ, sub-diagonal blocks Bⱼ, i.e. a band matrix of bandwidth b.
 * - Rayleigh–Ritz: T's top eigenpairs (θᵢ, yᵢ) (see symmetric-band-eigen.ts: O(b·d²) for basis size d, not
 *   the O(d³) of a dense eigensolver, which is what makes unrestarted Lanczos affordable). Ritz vector
 *   xᵢ = V·yᵢ has ‖M·xᵢ − θᵢ·xᵢ‖ = ‖B_{j+1}·(last block of yᵢ)‖, so the singular residual
 *   ‖Aᵀuᵢ − σᵢvᵢ‖ = that / σᵢ (σᵢ = √θᵢ, uᵢ = A·xᵢ/σᵢ) is known without a product.
 * - Checks are scheduled from the observed convergence rate (each costs O(b·d²), a step O(mnb)).
 * - When every estimate is below the tolerance, the k Ritz vectors X are formed, P = A·X is computed, and the
 *   small SVD P = U·S·Wᵀ gives the triplets (U, S, X·W): A·vᵢ = σᵢ·uᵢ holds by construction and U, V are
 *   orthonormal. Then ‖Aᵀ·uᵢ − σᵢ·vᵢ‖ is measured with one more product: the result is accepted only on this
 *   measured residual (otherwise the iteration goes on), so a wrong estimate can cost time, never accuracy.
 * - Past `maxBasisSize` vectors, thick restart (Wu & Simon 2000): the basis becomes the leading Ritz vectors
 *   plus V_{j+1}, and T becomes diag(θ) bordered by B_{j+1}·Y_last, a band of bandwidth (kept + b).
 *
 * Unlike subspace iteration this needs no gap between σ_k and σ_{k+b}: on the flat, clustered spectra of
 * random-weight layers (Marchenko–Pastur: σ₁₆/σ₁ ≈ 0.93, σ₁₆ − σ₁₇ ≈ 0.002·σ₁) it converges at a basis of
 * about a third of the dimension. A singular value repeated more than `blockSize` times among the leading
 * ones can be found with too small a multiplicity (as with every Krylov method from a random start block).
 */
export function blockLanczosTopK(
  space: KrylovSpace,
  options: BlockLanczosOptions,
  gaussian: GaussianSource,
): BlockLanczosResult {
  const { rank, tolerance } = options;
  const dimension = space.dimension;
  const blockSize = Math.max(1, Math.min(options.blockSize, dimension));
  // Enough steps to hold `rank` vectors, whatever the caller asked.
  const maxIterations = Math.max(options.maxIterations, Math.ceil(rank / blockSize));
  const maxBasisSize = Math.min(dimension, Math.max(options.maxBasisSize, 2 * rank + 2 * blockSize));
  // Ritz vectors kept by a thick restart.
  const kept = Math.min(maxBasisSize - blockSize, 2 * rank + blockSize);
  const randomRows = (count: number): Matrix => transposeMatrix(gaussian(dimension, count));
  // T = VᵀMV, dense (its band is copied out for each Rayleigh–Ritz); at most maxBasisSize square.
  const projection = new Float64Array(maxBasisSize * maxBasisSize);
  const setProjection = (i: number, j: number, value: number) => {
    projection[i * maxBasisSize + j] = value;
    projection[j * maxBasisSize + i] = value;
  };
  let bandwidth = blockSize;

  const start = randomRows(blockSize);
  let block = orthonormalizeBlock(space, start, rowNorms(start), randomRows).vectors;
  space.append(block);
  let blockStart = 0;
  let iterations = 0;
  let nextCheck = firstCheck(rank, blockSize);
  let lastCheck: { readonly iteration: number; readonly estimate: number } | undefined;
  let estimateScale = 1;
  let best: BlockLanczosResult | undefined;
  const history: number[] = [];
  while (true) {
    const width = block.rows;
    const { normalNorms, projected, coefficients } = space.expand(block);
    iterations++;
    // Aⱼ = VⱼᵀMVⱼ: the coefficients on the current block, symmetrised.
    for (let r = 0; r < width; r++) {
      for (let c = 0; c <= r; c++) {
        const value =
          0.5 *
          ((coefficients.data[r * coefficients.cols + blockStart + c] as number) +
            (coefficients.data[c * coefficients.cols + blockStart + r] as number));
        setProjection(blockStart + r, blockStart + c, value);
      }
    }
    const size = blockStart + width;
    const nextWidth = Math.min(blockSize, dimension - size);
    // The next block and B_{j+1} (nextWidth × width: entry [l][r] = q_lᵀ·(projected M·v_r)).
    let next: { readonly vectors: Matrix; readonly coupling: Matrix } | undefined;
    if (nextWidth > 0) {
      const candidates: Matrix = {
        rows: nextWidth,
        cols: dimension,
        data: projected.data.slice(0, nextWidth * dimension),
      };
      const factored = orthonormalizeBlock(space, candidates, normalNorms, randomRows);
      next = { vectors: factored.vectors, coupling: couplingBlock(factored, projected, width) };
    }
    const restartNeeded = next !== undefined && size + nextWidth > maxBasisSize;
    const due =
      next === undefined ||
      restartNeeded ||
      iterations >= maxIterations ||
      (iterations >= nextCheck && size >= rank);
    if (due) {
      const count = Math.min(restartNeeded ? kept : rank, size);
      const band = createSymmetricBand(size, Math.min(bandwidth, size - 1));
      for (let i = 0; i < size; i++) {
        for (let j = Math.max(0, i - band.bandwidth); j <= i; j++)
          setBandEntry(band, i, j, projection[i * maxBasisSize + j] as number);
      }
      const eigen = topEigenpairsOfBand(band, count);
      const leading = Math.min(rank, count);
      const estimate =
        next === undefined
          ? 0
          : estimateScale * ritzResidualEstimate(eigen, leading, next.coupling, blockStart);
      if (estimate <= tolerance || next === undefined || iterations >= maxIterations) {
        const result = extract(space, eigen.vectors, leading, iterations);
        // With the whole space spanned (next undefined) Rayleigh–Ritz is exact: converged whatever the measure.
        if (result.residual <= tolerance || next === undefined) return { ...result, converged: true };
        if (best === undefined || result.residual < best.residual) best = result;
        if (iterations >= maxIterations) return best;
        // The estimate was optimistic (float32 round-off in T, say): scale later ones by what was measured.
        estimateScale *= Math.max(2, result.residual / Math.max(estimate, Number.MIN_VALUE));
      }
      // Stagnation at the round-off floor: no 10 % gain over the last five checks.
      history.push(estimate);
      if (history.length > 5 && estimate > 0.9 * (history[history.length - 6] as number)) {
        const result = extract(space, eigen.vectors, leading, iterations);
        return best !== undefined && best.residual < result.residual ? best : result;
      }
      nextCheck = scheduleNextCheck(iterations, estimate, tolerance, lastCheck);
      lastCheck = { iteration: iterations, estimate };
      if (restartNeeded && next !== undefined) {
        // Thick restart: V ← [V·Y_kept, V_{j+1}], T ← [diag(θ) sᵀ; s A_{j+1} …] with s = B_{j+1}·Y_last.
        space.reset(space.combine(eigen.vectors));
        projection.fill(0);
        const keptCount = eigen.values.length;
        for (let i = 0; i < keptCount; i++) setProjection(i, i, eigen.values[i] as number);
        const border = lastBlockProduct(next.coupling, eigen.vectors, blockStart);
        for (let r = 0; r < border.rows; r++) {
          for (let l = 0; l < keptCount; l++)
            setProjection(keptCount + r, l, border.data[r * keptCount + l] as number);
        }
        bandwidth = keptCount + blockSize;
        blockStart = keptCount;
        block = next.vectors;
        space.append(block);
        continue;
      }
    }
    if (next === undefined)
      throw new Error("blockLanczosTopK: unreachable, a spanned space is always checked");
    for (let l = 0; l < next.coupling.rows; l++) {
      for (let r = 0; r < width; r++) {
        const value = next.coupling.data[l * width + r] as number;
        if (value === 0) continue;
        setProjection(size + l, blockStart + r, value);
        bandwidth = Math.max(bandwidth, size + l - blockStart - r);
      }
    }
    blockStart = size;
    block = next.vectors;
    space.append(block);
  }
}

/**
 * B_{j+1} = Qᵀ·Z (nextWidth × width) for the orthonormalised next block Q of the projected products Z: the
 * Gram–Schmidt triangle for the columns it factored; when the space runs out (fewer new vectors than the
 * block has), the remaining columns of Z are expanded on Q by dot products.
 */
function couplingBlock(
  factored: { readonly vectors: Matrix; readonly triangle: Matrix },
  projected: Matrix,
  width: number,
): Matrix {
  const { vectors, triangle } = factored;
  const rows = vectors.rows;
  const length = vectors.cols;
  const coupling = new Float64Array(rows * width);
  for (let l = 0; l < rows; l++) {
    for (let r = 0; r < width; r++) {
      coupling[l * width + r] =
        r < rows
          ? (triangle.data[l * rows + r] as number)
          : dotProduct(
              vectors.data.subarray(l * length, (l + 1) * length),
              projected.data.subarray(r * length, (r + 1) * length),
            );
    }
  }
  return { rows, cols: width, data: coupling };
}

/** B·Y_last: (rows of B) × (eigenvectors), Y_last = the eigenvectors' entries blockStart … blockStart + width. */
function lastBlockProduct(coupling: Matrix, eigenvectors: Matrix, blockStart: number): Matrix {
  const count = eigenvectors.rows;
  const out = new Float64Array(coupling.rows * count);
  for (let r = 0; r < coupling.rows; r++) {
    for (let i = 0; i < count; i++) {
      let sum = 0;
      for (let t = 0; t < coupling.cols; t++) {
        sum +=
          (coupling.data[r * coupling.cols + t] as number) *
          (eigenvectors.data[i * eigenvectors.cols + blockStart + t] as number);
      }
      out[r * count + i] = sum;
    }
  }
  return { rows: coupling.rows, cols: count, data: out };
}

/** The first Rayleigh–Ritz: once the basis could hold the rank twice over (earlier ones rarely converge). */
function firstCheck(rank: number, blockSize: number): number {
  return Math.max(2, Math.ceil((2 * rank) / blockSize));
}

/**
 * Next step at which to run Rayleigh–Ritz: extrapolates the residual's geometric decay since the last check
 * (Lanczos converges superlinearly, so this overestimates the steps left; 3/4 of it is taken), at least one
 * step and at most a quarter of the steps so far ahead, which bounds both the checks (logarithmically many
 * while far from convergence) and the overshoot (≤ 25 % more steps than needed).
 */
function scheduleNextCheck(
  iteration: number,
  estimate: number,
  tolerance: number,
  previous: { readonly iteration: number; readonly estimate: number } | undefined,
): number {
  const limit = Math.max(1, Math.floor(iteration / 4));
  if (previous === undefined || !(estimate < previous.estimate) || estimate <= 0) return iteration + limit;
  const rate = (estimate / previous.estimate) ** (1 / (iteration - previous.iteration));
  const remaining = Math.log(tolerance / estimate) / Math.log(rate);
  return iteration + Math.max(1, Math.min(limit, Math.floor(0.75 * remaining)));
}

/**
 * max over the leading Ritz pairs of ρᵢ / (σᵢ·σ₁) with ρᵢ = ‖B_{j+1}·yᵢ,last‖ = ‖M·xᵢ − θᵢ·xᵢ‖ and σᵢ = √θᵢ:
 * the singular residual ‖Aᵀuᵢ − σᵢvᵢ‖/σ₁ of the Ritz triplet, from the Lanczos relation. A Ritz value with
 * θᵢ ≤ ρᵢ is zero within its own accuracy; dividing by its σᵢ would blow round-off up, so it is left to the
 * measured residual of {@link extract} (its uᵢ comes out orthogonal to the range of A there).
 */
function ritzResidualEstimate(
  eigen: { readonly values: Float64Array; readonly vectors: Matrix },
  leading: number,
  coupling: Matrix,
  blockStart: number,
): number {
  const largest = Math.sqrt(Math.max(eigen.values[0] as number, 0));
  if (largest === 0) return 0;
  const residuals = lastBlockProduct(coupling, eigen.vectors, blockStart);
  let worst = 0;
  for (let i = 0; i < leading; i++) {
    let sum = 0;
    for (let r = 0; r < residuals.rows; r++) sum += (residuals.data[r * residuals.cols + i] as number) ** 2;
    const residual = Math.sqrt(sum);
    const value = eigen.values[i] as number;
    if (value <= residual) continue;
    worst = Math.max(worst, residual / Math.sqrt(value) / largest);
  }
  return worst;
}

/**
 * The triplets of the k leading Ritz vectors X (rows), made exact in A·v = σ·u and orthonormal by the SVD of
 * the small P = A·X (m × k), then measured: residual = maxᵢ ‖Aᵀ·uᵢ − σᵢ·vᵢ‖ / σ₁.
 */
function extract(
  space: KrylovSpace,
  eigenvectors: Matrix,
  leading: number,
  iterations: number,
): BlockLanczosResult {
  const coefficients: Matrix = {
    rows: leading,
    cols: eigenvectors.cols,
    data: eigenvectors.data.slice(0, leading * eigenvectors.cols),
  };
  const ritz = space.combine(coefficients);
  const products = space.forward(ritz);
  // products P (k × outer) = Û·S·V̂ᵀ, so A·X = Pᵀ = V̂·S·Ûᵀ: the rows of small.vt are the uᵢ.
  const small = thinSvd(products);
  const count = Math.min(leading, small.s.length);
  const left: Matrix = {
    rows: count,
    cols: space.outerDimension,
    data: small.vt.data.slice(0, count * space.outerDimension),
  };
  // vᵢ = Σ_l Û[l][i]·x_l with Û = small.utᵀ: the rows of small.ut are the combinations.
  const rotation: Matrix = { rows: count, cols: leading, data: small.ut.data.slice(0, count * leading) };
  const right = multiplyRowSets(rotation, ritz);
  const s = small.s.slice(0, count);
  const back = space.backward(left);
  const largest = s[0] ?? 0;
  let residual = 0;
  if (largest > 0) {
    for (let i = 0; i < count; i++) {
      const sigma = s[i] as number;
      let sum = 0;
      for (let c = 0; c < space.dimension; c++) {
        const difference =
          (back.data[i * space.dimension + c] as number) -
          sigma * (right.data[i * space.dimension + c] as number);
        sum += difference * difference;
      }
      residual = Math.max(residual, Math.sqrt(sum) / largest);
    }
  }
  const factors = space.transposed ? { ut: right, s, vt: left } : { ut: left, s, vt: right };
  return { ...factors, iterations, residual, converged: false };
}

/** C·X for C (r × d) and the rows X (d × n). */
function multiplyRowSets(c: Matrix, x: Matrix): Matrix {
  const out = new Float64Array(c.rows * x.cols);
  for (let r = 0; r < c.rows; r++) {
    for (let j = 0; j < c.cols; j++) {
      const factor = c.data[r * c.cols + j] as number;
      if (factor === 0) continue;
      const offset = j * x.cols;
      for (let i = 0; i < x.cols; i++)
        out[r * x.cols + i] = (out[r * x.cols + i] as number) + factor * (x.data[offset + i] as number);
    }
  }
  return { rows: c.rows, cols: x.cols, data: out };
}

/**
 * Orthonormal rows Q and the upper triangular R with candidate_r = Σ_{l≤r} R[l][r]·q_l (a Gram–Schmidt QR,
 * each vector projected twice off those before it). The candidates are already orthogonal to the basis. A
 * candidate that falls to round-off level of `referenceNorms[r]` (the norm it had before any projection) lies
 * in the span already built: the Krylov space is invariant in that direction, its R[r][r] is 0, and a random
 * vector projected off the basis and the block takes its place, so the block keeps its width.
 */
function orthonormalizeBlock(
  space: KrylovSpace,
  candidates: Matrix,
  referenceNorms: Float64Array,
  randomRows: (count: number) => Matrix,
): { vectors: Matrix; triangle: Matrix } {
  const { rows: count, cols: length } = candidates;
  const vectors = new Float64Array(count * length);
  const triangle = new Float64Array(count * count);
  // What the products and the two projections leave of a vector that had no component off the basis.
  const floor = 64 * space.unitRoundoff * Math.sqrt(space.dimension);
  const projectOffBlock = (x: Float64Array, before: number, coefficients?: Float64Array) => {
    for (let pass = 0; pass < 2; pass++) {
      for (let l = 0; l < before; l++) {
        const q = vectors.subarray(l * length, (l + 1) * length);
        const dot = dotProduct(x, q);
        if (coefficients !== undefined) coefficients[l] = (coefficients[l] as number) + dot;
        for (let i = 0; i < length; i++) x[i] = (x[i] as number) - dot * (q[i] as number);
      }
    }
  };
  for (let r = 0; r < count; r++) {
    let x = Float64Array.from(candidates.data.subarray(r * length, (r + 1) * length));
    const coefficients = new Float64Array(r);
    projectOffBlock(x, r, coefficients);
    for (let l = 0; l < r; l++) triangle[l * count + r] = coefficients[l] as number;
    let remaining = norm(x);
    if (remaining > floor * (referenceNorms[r] as number) && remaining > 0) {
      triangle[r * count + r] = remaining;
    } else {
      for (let attempt = 0; attempt < 4; attempt++) {
        const random = randomRows(1);
        x = Float64Array.from(space.basisSize > 0 ? space.projectOut(random).projected.data : random.data);
        const before = norm(x);
        projectOffBlock(x, r);
        remaining = norm(x);
        if (remaining > 0.5 * before) break;
      }
    }
    for (let i = 0; i < length; i++) vectors[r * length + i] = (x[i] as number) / remaining;
  }
  return {
    vectors: { rows: count, cols: length, data: vectors },
    triangle: { rows: count, cols: count, data: triangle },
  };
}

function dotProduct(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += (x[i] as number) * (y[i] as number);
  return sum;
}

function norm(x: ArrayLike<number>): number {
  return Math.sqrt(dotProduct(x, x));
}
