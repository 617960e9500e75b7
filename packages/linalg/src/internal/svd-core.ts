import { ConvergenceError } from "../errors.js";
import { bidiagonalize, bidiagonalReflectorElements } from "./bidiagonalize.js";
import { accumulateReflectors } from "./heap-reflectors.js";
import { descendingOrder, type Matrix, transposeMatrix } from "./matrix.js";
import { factorQr, qrHeapLayout } from "./qr-core.js";
import { batchCoefficientElements, batchLength, RotationBatch } from "./rotation-batch.js";
import { createSvdKernels } from "./svd-kernels.js";

/**
 * A thin SVD A = U·diag(s)·Vᵀ in float64 with both factors stored as rows: `ut` is Uᵀ (k × m) and `vt` is
 * Vᵀ (k × n), k = min(m, n), s descending and non-negative.
 */
export interface SvdFactors {
  readonly ut: Matrix;
  readonly s: Float64Array;
  readonly vt: Matrix;
}

/** Tall inputs with m ≥ this ratio · n are first reduced by QR (LAPACK's dgesvd uses a similar crossover). */
const qrFirstRatio = 1.6;

/**
 * Thin SVD of any m × n matrix: Householder bidiagonalisation followed by implicit-shift QR on the bidiagonal
 * (Golub–Kahan, as in LINPACK dsvdc), with the rotations accumulated into the rows of Uᵀ and Vᵀ so every
 * update is a contiguous row operation. Wide inputs are handled through Aᵀ, tall ones through QR first.
 */
export function thinSvd(a: Matrix): SvdFactors {
  if (a.rows < a.cols) {
    const transposed = thinSvd(transposeMatrix(a));
    return { ut: transposed.vt, s: transposed.s, vt: transposed.ut };
  }
  if (a.cols > 1 && a.rows >= qrFirstRatio * a.cols) return qrFirstSvd(a);
  return tallSvd(a);
}

/**
 * A = Q·R, R = U_R·S·Vᵀ, so Uᵀ = U_Rᵀ·Qᵀ = [U_Rᵀ 0]·H_{n−1}···H_0: the reflectors are applied to the rows of
 * U_Rᵀ directly (where A was), without forming Q or multiplying by it.
 */
function qrFirstSvd(a: Matrix): SvdFactors {
  const { rows: m, cols: n } = a;
  const layout = qrHeapLayout(m, n);
  const kernels = createSvdKernels(layout.end, 0);
  const heap = kernels.heap;
  heap.set(a.data, layout.work);
  const { reflectors, r } = factorQr(kernels, m, n, layout);
  const inner = tallSvd(r);
  const ut = layout.work;
  heap.fill(0, ut, ut + n * m);
  for (let row = 0; row < n; row++) heap.set(inner.ut.data.subarray(row * n, (row + 1) * n), ut + row * m);
  accumulateReflectors(kernels, ut, n, m, reflectors, n, 0, true);
  return { ut: { rows: n, cols: m, data: heap.slice(ut, ut + n * m) }, s: inner.s, vt: inner.vt };
}

/** SVD of m × n with m ≥ n, every array on one kernel heap (WebAssembly memory where available). */
function tallSvd(a: Matrix): SvdFactors {
  const { rows: m, cols: n } = a;
  // Heap layout: A (m·n, overwritten), Uᵀ (n·m), Vᵀ (n·n), scratch (n), reflector vectors, the (cos, sin)
  // pairs of the two rotation batches (chains have at most n − 1 rotations).
  const work = 0;
  const ut = work + m * n;
  const vt = ut + n * m;
  const scratch = vt + n * n;
  const reflectors = scratch + n;
  const leftCoefficients = reflectors + bidiagonalReflectorElements(m, n);
  const rightCoefficients = leftCoefficients + batchCoefficientElements(n);
  const kernels = createSvdKernels(rightCoefficients + batchCoefficientElements(n), batchLength);
  kernels.heap.set(a.data, work);
  const { diagonal, superDiagonal } = bidiagonalize(kernels, m, n, { work, ut, vt, scratch, reflectors });
  const utMatrix: Matrix = { rows: n, cols: m, data: kernels.heap.subarray(ut, ut + n * m) };
  const vtMatrix: Matrix = { rows: n, cols: n, data: kernels.heap.subarray(vt, vt + n * n) };
  diagonalizeBidiagonal(
    diagonal,
    superDiagonal,
    utMatrix,
    vtMatrix,
    new RotationBatch(kernels, ut, m, leftCoefficients),
    new RotationBatch(kernels, vt, n, rightCoefficients),
  );
  return sortDescending(diagonal, utMatrix, vtMatrix);
}

/** Rotates rows `first` and `second` of a row-major matrix: [x; y] ← [c s; −s c]·[x; y]. */
function rotateRows(matrix: Matrix, first: number, second: number, cosine: number, sine: number): void {
  const { cols, data } = matrix;
  const a = first * cols;
  const b = second * cols;
  for (let i = 0; i < cols; i++) {
    const x = data[a + i] as number;
    const y = data[b + i] as number;
    data[a + i] = cosine * x + sine * y;
    data[b + i] = cosine * y - sine * x;
  }
}

/**
 * Implicit-shift QR on the upper bidiagonal (d, e) until e vanishes (LINPACK dsvdc / Golub–Kahan): splits at
 * negligible e_k, chases out zero d_k, and otherwise performs a QR sweep with the Wilkinson-type shift from
 * the trailing 2 × 2 block. Left rotations update rows of Uᵀ, right rotations rows of Vᵀ (the batches hold the
 * same matrices on the kernel heap; sweeps are queued there, the rare chases of a zero d_k go directly).
 */
function diagonalizeBidiagonal(
  d: Float64Array,
  e: Float64Array,
  ut: Matrix,
  vt: Matrix,
  leftBatch: RotationBatch,
  rightBatch: RotationBatch,
): void {
  const n = d.length;
  // Rows deflated with a negative d are negated at the end: no later rotation touches a deflated row.
  const negate: number[] = [];
  const eps = 2 ** -52;
  const tiny = 2 ** -966;
  let p = n;
  let iterations = 0;
  const maxIterations = 75 * n + 100;
  while (p > 0) {
    if (iterations > maxIterations) {
      throw new ConvergenceError(`svd: bidiagonal QR did not converge after ${iterations} sweeps (n = ${n})`);
    }
    let k = p - 2;
    for (; k >= 0; k--) {
      if (
        Math.abs(e[k] as number) <=
        tiny + eps * (Math.abs(d[k] as number) + Math.abs(d[k + 1] as number))
      ) {
        e[k] = 0;
        break;
      }
    }
    let kind: 1 | 2 | 3 | 4;
    if (k === p - 2) {
      kind = 4;
    } else {
      let ks = p - 1;
      for (; ks > k; ks--) {
        const t =
          (ks !== p ? Math.abs(e[ks] as number) : 0) + (ks !== k + 1 ? Math.abs(e[ks - 1] as number) : 0);
        if (Math.abs(d[ks] as number) <= tiny + eps * t) {
          d[ks] = 0;
          break;
        }
      }
      if (ks === k) kind = 3;
      else if (ks === p - 1) kind = 1;
      else kind = 2;
      if (kind === 2) k = ks;
    }
    k++;
    if (kind === 1 || kind === 2) {
      leftBatch.flush();
      rightBatch.flush();
    }
    if (kind === 1) {
      // d[p−1] = 0: chase e[p−2] up with right rotations.
      let f = e[p - 2] as number;
      e[p - 2] = 0;
      for (let j = p - 2; j >= k; j--) {
        const t = Math.hypot(d[j] as number, f);
        const cs = (d[j] as number) / t;
        const sn = f / t;
        d[j] = t;
        if (j !== k) {
          f = -sn * (e[j - 1] as number);
          e[j - 1] = cs * (e[j - 1] as number);
        }
        rotateRows(vt, j, p - 1, cs, sn);
      }
    } else if (kind === 2) {
      // d[k−1] = 0: chase e[k−1] down with left rotations.
      let f = e[k - 1] as number;
      e[k - 1] = 0;
      for (let j = k; j < p; j++) {
        const t = Math.hypot(d[j] as number, f);
        const cs = (d[j] as number) / t;
        const sn = f / t;
        d[j] = t;
        f = -sn * (e[j] as number);
        e[j] = cs * (e[j] as number);
        rotateRows(ut, j, k - 1, cs, sn);
      }
    } else if (kind === 3) {
      qrSweep(d, e, k, p, leftBatch, rightBatch);
      iterations++;
    } else {
      if ((d[k] as number) <= 0) {
        if ((d[k] as number) < 0) negate.push(k);
        d[k] = (d[k] as number) < 0 ? -(d[k] as number) : 0;
      }
      iterations = 0;
      p--;
    }
  }
  leftBatch.flush();
  rightBatch.flush();
  for (const k of negate) {
    const row = vt.data.subarray(k * vt.cols, (k + 1) * vt.cols);
    for (let i = 0; i < row.length; i++) row[i] = -(row[i] as number);
  }
}

/** One implicit QR sweep on rows k..p−1 of the bidiagonal, shift from the trailing 2 × 2 of BᵀB. */
function qrSweep(
  d: Float64Array,
  e: Float64Array,
  k: number,
  p: number,
  leftBatch: RotationBatch,
  rightBatch: RotationBatch,
): void {
  const scale = Math.max(
    Math.abs(d[p - 1] as number),
    Math.abs(d[p - 2] as number),
    Math.abs(e[p - 2] as number),
    Math.abs(d[k] as number),
    Math.abs(e[k] as number),
  );
  const sp = (d[p - 1] as number) / scale;
  const spm1 = (d[p - 2] as number) / scale;
  const epm1 = (e[p - 2] as number) / scale;
  const sk = (d[k] as number) / scale;
  const ek = (e[k] as number) / scale;
  const b = ((spm1 + sp) * (spm1 - sp) + epm1 * epm1) / 2;
  const c = sp * epm1 * (sp * epm1);
  let shift = 0;
  if (b !== 0 || c !== 0) {
    shift = Math.sqrt(b * b + c);
    if (b < 0) shift = -shift;
    shift = c / (b + shift);
  }
  let f = (sk + sp) * (sk - sp) + shift;
  let g = sk * ek;
  const count = p - 1 - k;
  const rightCosines = new Float64Array(count);
  const rightSines = new Float64Array(count);
  const leftCosines = new Float64Array(count);
  const leftSines = new Float64Array(count);
  for (let j = k; j < p - 1; j++) {
    let t = norm2(f, g);
    let cs = f / t;
    let sn = g / t;
    if (j !== k) e[j - 1] = t;
    f = cs * (d[j] as number) + sn * (e[j] as number);
    e[j] = cs * (e[j] as number) - sn * (d[j] as number);
    g = sn * (d[j + 1] as number);
    d[j + 1] = cs * (d[j + 1] as number);
    rightCosines[j - k] = cs;
    rightSines[j - k] = sn;
    t = norm2(f, g);
    cs = f / t;
    sn = g / t;
    d[j] = t;
    f = cs * (e[j] as number) + sn * (d[j + 1] as number);
    d[j + 1] = -sn * (e[j] as number) + cs * (d[j + 1] as number);
    g = sn * (e[j + 1] as number);
    e[j + 1] = cs * (e[j + 1] as number);
    leftCosines[j - k] = cs;
    leftSines[j - k] = sn;
  }
  e[p - 2] = f;
  rightBatch.add(k, rightCosines, rightSines);
  leftBatch.add(k, leftCosines, leftSines);
}

/** Squares of magnitudes in this range neither overflow nor lose precision to underflow. */
const safeHigh = 2 ** 500;
const safeLow = 2 ** -500;

/**
 * √(a² + b²) without overflow or harmful underflow: the plain formula when both magnitudes are in
 * [2⁻⁵⁰⁰, 2⁵⁰⁰] (about 1 ulp, as LAPACK's dlartg), else Math.hypot. Several times faster than Math.hypot
 * in V8, which matters in the QR sweeps (two per bulge-chasing step).
 */
function norm2(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x < safeHigh && y < safeHigh && x > safeLow && y > safeLow) return Math.sqrt(a * a + b * b);
  return Math.hypot(a, b);
}

/** Orders the singular values descending and permutes the rows of Uᵀ and Vᵀ to match. */
function sortDescending(s: Float64Array, ut: Matrix, vt: Matrix): SvdFactors {
  const order = descendingOrder(s);
  const sorted = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) sorted[i] = s[order[i] as number] as number;
  return { ut: permuteRows(ut, order), s: sorted, vt: permuteRows(vt, order) };
}

function permuteRows(matrix: Matrix, order: Int32Array): Matrix {
  const { cols, data } = matrix;
  const out = new Float64Array(order.length * cols);
  for (let target = 0; target < order.length; target++) {
    const source = order[target] as number;
    out.set(data.subarray(source * cols, (source + 1) * cols), target * cols);
  }
  return { rows: order.length, cols, data: out };
}
