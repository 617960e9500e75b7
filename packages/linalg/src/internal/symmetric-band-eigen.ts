import type { Matrix } from "./matrix.js";

/**
 * A symmetric matrix of order `size` whose entries vanish more than `bandwidth` places off the diagonal,
 * stored by rows of its lower band: entry (i, j), 0 ≤ i − j ≤ bandwidth + 1, lives at
 * `values[i * (bandwidth + 2) + (i − j)]` (the extra sub-diagonal holds the bulge of the reduction below).
 */
export interface SymmetricBand {
  readonly size: number;
  readonly bandwidth: number;
  readonly values: Float64Array;
}

/** An empty band matrix. */
export function createSymmetricBand(size: number, bandwidth: number): SymmetricBand {
  return { size, bandwidth, values: new Float64Array(size * (bandwidth + 2)) };
}

/** Sets entry (i, j) = (j, i); |i − j| must be at most the bandwidth. */
export function setBandEntry(band: SymmetricBand, i: number, j: number, value: number): void {
  const row = Math.max(i, j);
  const column = Math.min(i, j);
  band.values[row * (band.bandwidth + 2) + (row - column)] = value;
}

/** The leading eigenpairs of a symmetric band matrix. */
export interface BandEigenpairs {
  /** The `count` largest eigenvalues, descending. */
  readonly values: Float64Array;
  /** The matching orthonormal eigenvectors as the rows of a count × size matrix. */
  readonly vectors: Matrix;
}

/**
 * The `count` largest eigenpairs of a symmetric band matrix, in float64 and backward stable:
 * (1) Givens reduction to tridiagonal form (Schwarz 1968, the scheme of LAPACK's `sbtrd`: each sub-diagonal
 * entry is rotated away and the bulge it creates `bandwidth` rows further down is chased off the end),
 * O(bandwidth·size²); (2) the eigenvalues of the tridiagonal matrix by bisection on Sturm counts (`stebz`),
 * to 2ε·‖T‖ absolute; (3) its eigenvectors by inverse iteration (`stein`: eigenvalues closer than 1e-3·‖T‖
 * form a cluster whose vectors are re-orthogonalised at every iteration); (4) the recorded rotations applied
 * backwards to those vectors. Cheap enough to run after every few block Lanczos steps, which is the point:
 * a dense eigensolver would cost O(size³).
 */
export function topEigenpairsOfBand(band: SymmetricBand, count: number): BandEigenpairs {
  const size = band.size;
  const reduction = reduceToTridiagonal(band);
  const values = largestTridiagonalEigenvalues(reduction.diagonal, reduction.offDiagonal, count);
  const vectors = tridiagonalEigenvectors(reduction.diagonal, reduction.offDiagonal, values);
  undoRotations(reduction, vectors, values.length, size);
  return { values, vectors: { rows: values.length, cols: size, data: vectors } };
}

/** The tridiagonal form Q·T·Qᵀ and the rotations G_t (Q = G_last···G_first) that produced it. */
interface TridiagonalReduction {
  readonly diagonal: Float64Array;
  /** offDiagonal[i] = entry (i + 1, i). */
  readonly offDiagonal: Float64Array;
  readonly planes: Int32Array;
  readonly cosines: Float64Array;
  readonly sines: Float64Array;
  readonly rotationCount: number;
}

/**
 * Schwarz's band reduction on a copy of the lower band. Entry (c + o, c) is annihilated by a rotation of
 * rows and columns (c + o − 1, c + o); the rotation creates entry (c + o + w, c + o − 1) (w = bandwidth),
 * which the next rotation, in plane (c + o + w − 1, c + o + w), annihilates in turn, until the bulge leaves
 * the matrix. Every rotation touches only rows and columns p − w … p + w + 1 of its plane (p, p + 1).
 */
function reduceToTridiagonal(band: SymmetricBand): TridiagonalReduction {
  const { size, bandwidth: w } = band;
  const stride = w + 2;
  const t = new Float64Array(band.values);
  const capacity = rotationBound(size, w);
  const planes = new Int32Array(capacity);
  const cosines = new Float64Array(capacity);
  const sines = new Float64Array(capacity);
  let rotationCount = 0;
  for (let column = 0; column + 2 < size; column++) {
    for (let offset = Math.min(w, size - 1 - column); offset >= 2; offset--) {
      let q = column + offset;
      let pivotColumn = column;
      while (true) {
        const p = q - 1;
        // x = entry (p, pivotColumn), y = entry (q, pivotColumn): y is annihilated.
        const xIndex = p * stride + (p - pivotColumn);
        const yIndex = q * stride + (q - pivotColumn);
        const x = t[xIndex] as number;
        const y = t[yIndex] as number;
        if (y === 0) break;
        // r = hypot(x, y) without Math.hypot's cost, scaled so that it cannot overflow.
        const absX = Math.abs(x);
        const absY = Math.abs(y);
        const radius =
          absX > absY ? absX * Math.sqrt(1 + (y / x) * (y / x)) : absY * Math.sqrt(1 + (x / y) * (x / y));
        const cosine = x / radius;
        const sine = y / radius;
        planes[rotationCount] = p;
        cosines[rotationCount] = cosine;
        sines[rotationCount] = sine;
        rotationCount++;
        t[xIndex] = radius;
        t[yIndex] = 0;
        rotatePlane(t, stride, size, w, p, pivotColumn, cosine, sine);
        const next = q + w;
        if (next >= size) break;
        pivotColumn = p;
        q = next;
      }
    }
  }
  const diagonal = new Float64Array(size);
  const offDiagonal = new Float64Array(Math.max(0, size - 1));
  for (let i = 0; i < size; i++) diagonal[i] = t[i * stride] as number;
  for (let i = 0; i + 1 < size; i++) offDiagonal[i] = t[(i + 1) * stride + 1] as number;
  return { diagonal, offDiagonal, planes, cosines, sines, rotationCount };
}

/** The most rotations {@link reduceToTridiagonal} can make: one per entry and bulge position it visits. */
function rotationBound(size: number, w: number): number {
  let count = 0;
  for (let column = 0; column + 2 < size; column++) {
    for (let offset = Math.min(w, size - 1 - column); offset >= 2; offset--) {
      count += 1 + Math.floor((size - 1 - column - offset) / w);
    }
  }
  return count;
}

/**
 * T ← G·T·Gᵀ for the rotation G = [c s; −s c] of rows and columns (p, p + 1), on the lower band `t`; the
 * entries in column `skip` of the two rows were already set by the caller.
 */
function rotatePlane(
  t: Float64Array,
  stride: number,
  size: number,
  w: number,
  p: number,
  skip: number,
  cosine: number,
  sine: number,
): void {
  const q = p + 1;
  // Columns j < p (both entries stored in rows p and q, offsets p − j and q − j ≤ w + 1).
  for (let j = Math.max(0, q - w - 1); j < p; j++) {
    if (j === skip) continue;
    const first = p * stride + (p - j);
    const second = q * stride + (q - j);
    const x = t[first] as number;
    const y = t[second] as number;
    t[first] = cosine * x + sine * y;
    t[second] = cosine * y - sine * x;
  }
  // The 2 × 2 block [a b; b d] → G·[a b; b d]·Gᵀ.
  const a = t[p * stride] as number;
  const b = t[q * stride + 1] as number;
  const d = t[q * stride] as number;
  const cc = cosine * cosine;
  const ss = sine * sine;
  const cs = cosine * sine;
  t[p * stride] = cc * a + 2 * cs * b + ss * d;
  t[q * stride] = ss * a - 2 * cs * b + cc * d;
  t[q * stride + 1] = (cc - ss) * b + cs * (d - a);
  // Rows i > q (entries (i, p) and (i, q) stored in row i, offsets i − p ≤ w + 1 and i − q).
  const last = Math.min(size - 1, p + w + 1);
  for (let i = q + 1; i <= last; i++) {
    const first = i * stride + (i - p);
    const second = i * stride + (i - q);
    const x = t[first] as number;
    const y = t[second] as number;
    t[first] = cosine * x + sine * y;
    t[second] = cosine * y - sine * x;
  }
}

/** Smallest normalised float64, LAPACK's safmin. */
const safeMinimum = 2 ** -1022;
/** Unit round-off of float64. */
const epsilon = 2 ** -53;

/** ‖T‖₁ of a symmetric tridiagonal matrix (the largest absolute row sum). */
function tridiagonalNorm(diagonal: Float64Array, offDiagonal: Float64Array): number {
  let norm = 0;
  for (let i = 0; i < diagonal.length; i++) {
    const left = i > 0 ? Math.abs(offDiagonal[i - 1] as number) : 0;
    const right = i < offDiagonal.length ? Math.abs(offDiagonal[i] as number) : 0;
    norm = Math.max(norm, Math.abs(diagonal[i] as number) + left + right);
  }
  return norm;
}

/**
 * The `count` largest eigenvalues of the symmetric tridiagonal matrix, descending, by bisection (LAPACK
 * `stebz`): the number of eigenvalues below x is the number of negative pivots of the LDLᵀ factorisation of
 * T − x·I (Sturm count; a pivot below `pivmin` in magnitude is replaced by −pivmin). Each eigenvalue is
 * bracketed to 1e-12·‖T‖ + 2·pivmin: a third fewer steps than to round-off, and inverse iteration from such
 * a shift still gains a factor 1e-12·‖T‖/gap per solve, while block Lanczos uses the values only for its
 * estimates and restarts, where the float32 products are a million times coarser.
 */
function largestTridiagonalEigenvalues(
  diagonal: Float64Array,
  offDiagonal: Float64Array,
  count: number,
): Float64Array {
  const size = diagonal.length;
  const squares = Float64Array.from(offDiagonal, (value) => value * value);
  let largestSquare = 1;
  for (const value of squares) largestSquare = Math.max(largestSquare, value);
  const pivmin = safeMinimum * largestSquare;
  const norm = tridiagonalNorm(diagonal, offDiagonal);
  // Gershgorin bounds, widened a little as stebz does.
  let lower = Number.POSITIVE_INFINITY;
  let upper = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < size; i++) {
    const radius =
      (i > 0 ? Math.abs(offDiagonal[i - 1] as number) : 0) +
      (i < size - 1 ? Math.abs(offDiagonal[i] as number) : 0);
    lower = Math.min(lower, (diagonal[i] as number) - radius);
    upper = Math.max(upper, (diagonal[i] as number) + radius);
  }
  const slack = 2 * epsilon * norm * size + 2 * pivmin;
  lower -= slack;
  upper += slack;
  const tolerance = 1e-12 * norm + 2 * pivmin;
  const countBelow = (x: number): number => {
    let pivot = (diagonal[0] as number) - x;
    if (Math.abs(pivot) < pivmin) pivot = -pivmin;
    let negatives = pivot < 0 ? 1 : 0;
    for (let i = 1; i < size; i++) {
      pivot = (diagonal[i] as number) - x - (squares[i - 1] as number) / pivot;
      if (Math.abs(pivot) < pivmin) pivot = -pivmin;
      if (pivot < 0) negatives++;
    }
    return negatives;
  };
  const wanted = Math.min(count, size);
  const values = new Float64Array(wanted);
  // The largest first; each bracket's top is the previous eigenvalue's top (eigenvalues descend).
  let top = upper;
  for (let position = 0; position < wanted; position++) {
    const index = size - 1 - position; // ascending index of the wanted eigenvalue
    let low = lower;
    let high = top;
    while (high - low > tolerance) {
      const middle = 0.5 * (low + high);
      if (middle === low || middle === high) break;
      // index < countBelow(middle) ⇔ the eigenvalue lies below middle.
      if (countBelow(middle) > index) high = middle;
      else low = middle;
    }
    values[position] = 0.5 * (low + high);
    top = high;
  }
  return values;
}

/** Deterministic start vectors for inverse iteration (xorshift32 in [−1, 1)), as LAPACK uses a fixed seed. */
function startVector(size: number, seed: number): Float64Array {
  let state = (seed * 2654435761 + 1) >>> 0 || 1;
  const vector = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    vector[i] = state / 2147483648 - 1;
  }
  return vector;
}

/**
 * Eigenvectors of the symmetric tridiagonal matrix for the given (accurate) eigenvalues by inverse iteration
 * (LAPACK `stein`): T − λ·I is factored with partial pivoting (`gttrf`; a zero pivot becomes ε·‖T‖), three
 * solves from a fixed start vector, each followed by Gram–Schmidt against the vectors already found for
 * eigenvalues within 1e-3·‖T‖ (a cluster), which keeps the vectors of close eigenvalues orthogonal.
 * Returns the vectors as rows (values.length × size).
 */
function tridiagonalEigenvectors(
  diagonal: Float64Array,
  offDiagonal: Float64Array,
  values: Float64Array,
): Float64Array {
  const size = diagonal.length;
  const count = values.length;
  const vectors = new Float64Array(count * size);
  const norm = tridiagonalNorm(diagonal, offDiagonal);
  const clusterGap = 1e-3 * norm;
  const tinyPivot = epsilon * Math.max(norm, safeMinimum);
  const sub = new Float64Array(size);
  const main = new Float64Array(size);
  const superFirst = new Float64Array(size);
  const superSecond = new Float64Array(size);
  const swapped = new Uint8Array(size);
  let clusterStart = 0;
  for (let index = 0; index < count; index++) {
    const value = values[index] as number;
    if (index > 0 && (values[index - 1] as number) - value > clusterGap) clusterStart = index;
    factorShiftedTridiagonal(
      diagonal,
      offDiagonal,
      value,
      tinyPivot,
      sub,
      main,
      superFirst,
      superSecond,
      swapped,
    );
    const x = startVector(size, index + 1);
    const row = vectors.subarray(index * size, (index + 1) * size);
    for (let iteration = 0; iteration < 3; iteration++) {
      solveFactoredTridiagonal(sub, main, superFirst, superSecond, swapped, x);
      // Scale first: the solution of a nearly singular system can be huge.
      let largest = 0;
      for (let i = 0; i < size; i++) largest = Math.max(largest, Math.abs(x[i] as number));
      if (!(largest > 0) || !Number.isFinite(largest)) {
        x.set(startVector(size, 7919 * (index + 1) + iteration));
        continue;
      }
      for (let i = 0; i < size; i++) x[i] = (x[i] as number) / largest;
      for (let other = clusterStart; other < index; other++) {
        const previous = vectors.subarray(other * size, (other + 1) * size);
        let dot = 0;
        for (let i = 0; i < size; i++) dot += (x[i] as number) * (previous[i] as number);
        for (let i = 0; i < size; i++) x[i] = (x[i] as number) - dot * (previous[i] as number);
      }
      let sum = 0;
      for (let i = 0; i < size; i++) sum += (x[i] as number) ** 2;
      const length = Math.sqrt(sum);
      for (let i = 0; i < size; i++) x[i] = (x[i] as number) / length;
    }
    row.set(x);
  }
  return vectors;
}

/**
 * LU factorisation with partial pivoting of the tridiagonal T − shift·I (LAPACK `gttrf`): L has unit diagonal
 * and multipliers `sub`, U has diagonal `main` and two super-diagonals; `swapped[i]` records the interchange
 * of rows i and i + 1. Pivots smaller than `tinyPivot` are set to ±tinyPivot (inverse iteration needs a
 * solvable, nearly singular system, not an exactly singular one).
 */
function factorShiftedTridiagonal(
  diagonal: Float64Array,
  offDiagonal: Float64Array,
  shift: number,
  tinyPivot: number,
  sub: Float64Array,
  main: Float64Array,
  superFirst: Float64Array,
  superSecond: Float64Array,
  swapped: Uint8Array,
): void {
  const size = diagonal.length;
  for (let i = 0; i < size; i++) {
    main[i] = (diagonal[i] as number) - shift;
    sub[i] = i < size - 1 ? (offDiagonal[i] as number) : 0;
    superFirst[i] = i < size - 1 ? (offDiagonal[i] as number) : 0;
    superSecond[i] = 0;
    swapped[i] = 0;
  }
  for (let i = 0; i < size - 1; i++) {
    const pivot = main[i] as number;
    const below = sub[i] as number;
    if (Math.abs(pivot) >= Math.abs(below)) {
      // No interchange: eliminate with the current row.
      const safePivot = Math.abs(pivot) < tinyPivot ? (pivot < 0 ? -tinyPivot : tinyPivot) : pivot;
      main[i] = safePivot;
      const factor = below / safePivot;
      sub[i] = factor;
      main[i + 1] = (main[i + 1] as number) - factor * (superFirst[i] as number);
    } else {
      // Interchange rows i and i + 1.
      const factor = pivot / below;
      main[i] = below;
      sub[i] = factor;
      const upper = superFirst[i] as number;
      superFirst[i] = main[i + 1] as number;
      main[i + 1] = upper - factor * (main[i + 1] as number);
      if (i < size - 2) {
        superSecond[i] = superFirst[i + 1] as number;
        superFirst[i + 1] = -factor * (superFirst[i + 1] as number);
      }
      swapped[i] = 1;
    }
  }
  const last = main[size - 1] as number;
  if (Math.abs(last) < tinyPivot) main[size - 1] = last < 0 ? -tinyPivot : tinyPivot;
}

/** Solves (P·L·U)·x = b in place for the factors of {@link factorShiftedTridiagonal}. */
function solveFactoredTridiagonal(
  sub: Float64Array,
  main: Float64Array,
  superFirst: Float64Array,
  superSecond: Float64Array,
  swapped: Uint8Array,
  x: Float64Array,
): void {
  const size = main.length;
  // L·y = P·b
  for (let i = 0; i < size - 1; i++) {
    if (swapped[i] === 1) {
      const upper = x[i] as number;
      x[i] = x[i + 1] as number;
      x[i + 1] = upper - (sub[i] as number) * (x[i] as number);
    } else {
      x[i + 1] = (x[i + 1] as number) - (sub[i] as number) * (x[i] as number);
    }
  }
  // U·x = y
  for (let i = size - 1; i >= 0; i--) {
    let value = x[i] as number;
    if (i + 1 < size) value -= (superFirst[i] as number) * (x[i + 1] as number);
    if (i + 2 < size) value -= (superSecond[i] as number) * (x[i + 2] as number);
    x[i] = value / (main[i] as number);
  }
}

/**
 * Maps eigenvectors z of Q·T·Qᵀ to those of T: y = Qᵀ·z = G_firstᵀ···G_lastᵀ·z, rotations in reverse order.
 * The vectors are interleaved (entry i of vector r at i·count + r) while the rotations run, so each rotation
 * updates two contiguous runs.
 */
function undoRotations(
  reduction: TridiagonalReduction,
  vectors: Float64Array,
  count: number,
  size: number,
): void {
  const { planes, cosines, sines, rotationCount } = reduction;
  const interleaved = new Float64Array(count * size);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < size; i++) interleaved[i * count + r] = vectors[r * size + i] as number;
  }
  for (let t = rotationCount - 1; t >= 0; t--) {
    const first = (planes[t] as number) * count;
    const second = first + count;
    const cosine = cosines[t] as number;
    const sine = sines[t] as number;
    for (let r = 0; r < count; r++) {
      const x = interleaved[first + r] as number;
      const y = interleaved[second + r] as number;
      interleaved[first + r] = cosine * x - sine * y;
      interleaved[second + r] = sine * x + cosine * y;
    }
  }
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < size; i++) vectors[r * size + i] = interleaved[i * count + r] as number;
  }
}
