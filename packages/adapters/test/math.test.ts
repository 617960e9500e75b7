import { createGenerator } from "@peftjs/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addScaled,
  frobeniusNorm,
  matrix,
  multiply,
  randomizedSvd,
  reducedQr,
  relativeError,
  scaleColumns,
  sliceColumns,
  sliceRows,
  transpose,
  truncatedSvd,
} from "../src/index.js";

function randomMatrix(rows: number, columns: number, seed: number) {
  return matrix(rows, columns, createGenerator(seed).normalValues(rows * columns, 0, 1));
}

function identityError(q: ReturnType<typeof matrix>): number {
  const gram = multiply(transpose(q), q);
  let max = 0;
  for (let i = 0; i < gram.rows; i++) {
    for (let j = 0; j < gram.columns; j++) {
      max = Math.max(max, Math.abs((gram.data[i * gram.columns + j] as number) - (i === j ? 1 : 0)));
    }
  }
  return max;
}

describe("decompositions", () => {
  // float32 storage of float64 results: reconstruction and orthogonality to a few float32 ulps
  const tolerance = 2e-6;

  it("SVD reconstructs tall, wide and square matrices with orthonormal factors (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 24 }),
        fc.nat(1000),
        (rows, columns, seed) => {
          const a = randomMatrix(rows, columns, seed);
          const { left, singularValues, rightTransposed } = truncatedSvd(a, Math.min(rows, columns));
          const rebuilt = multiply(scaleColumns(left, singularValues), rightTransposed);
          expect(relativeError(rebuilt, a)).toBeLessThan(tolerance);
          expect(identityError(left)).toBeLessThan(tolerance);
          expect(identityError(transpose(rightTransposed))).toBeLessThan(tolerance);
          for (let i = 1; i < singularValues.length; i++) {
            expect(singularValues[i] as number).toBeLessThanOrEqual(singularValues[i - 1] as number);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("truncated SVD attains the optimal (Eckart–Young) error", () => {
    const a = randomMatrix(20, 12, 3);
    const full = truncatedSvd(a, 12);
    const top = truncatedSvd(a, 4);
    const approximation = multiply(scaleColumns(top.left, top.singularValues), top.rightTransposed);
    const optimal = Math.sqrt(
      Array.from(full.singularValues.slice(4)).reduce((sum, value) => sum + value * value, 0),
    );
    expect(frobeniusNorm(addScaled(a, approximation, -1))).toBeCloseTo(optimal, 4);
  });

  it("large matrices with a small rank take the top-k path and agree with the full SVD", () => {
    const u = reducedQr(randomMatrix(300, 12, 21)).q;
    const v = reducedQr(randomMatrix(270, 12, 22)).q;
    const spectrum = Float32Array.from({ length: 12 }, (_, index) => 5 * 0.7 ** index);
    const a = addScaled(multiply(scaleColumns(u, spectrum), transpose(v)), randomMatrix(300, 270, 23), 1e-3);
    // k = 4 ≤ 270/8 takes svdTopK; k = 40 > 270/8 takes the full SVD
    const top = truncatedSvd(a, 4);
    const full = truncatedSvd(a, 40);
    const topProduct = multiply(scaleColumns(top.left, top.singularValues), top.rightTransposed);
    const fullProduct = multiply(
      scaleColumns(sliceColumns(full.left, 0, 4), full.singularValues.slice(0, 4)),
      sliceRows(full.rightTransposed, 0, 4),
    );
    // tolerance 1e-6·σ₁ on singular values separated by 30 %: the rank-4 parts agree to ~1e-6 relative
    expect(relativeError(topProduct, fullProduct)).toBeLessThan(1e-4);
  });

  it("QR reconstructs with orthonormal Q and LAPACK's sign convention (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.nat(1000),
        (rows, columns, seed) => {
          const a = randomMatrix(rows, columns, seed);
          const { q, r } = reducedQr(a);
          expect(relativeError(multiply(q, r), a)).toBeLessThan(tolerance);
          expect(identityError(q)).toBeLessThan(tolerance);
          for (let i = 0; i < r.rows; i++) {
            for (let j = 0; j < Math.min(i, r.columns); j++) expect(r.data[i * r.columns + j]).toBe(0);
          }
          // β = −sign(α)·‖x‖: the first diagonal entry has the opposite sign of a[0][0] (when a has >1 row)
          if (rows > 1) expect(Math.sign(r.data[0] as number)).toBe(-Math.sign(a.data[0] as number));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("randomized SVD is seeded and close to optimal on a fast-decaying spectrum", () => {
    const u = reducedQr(randomMatrix(40, 8, 1)).q;
    const v = reducedQr(randomMatrix(30, 8, 2)).q;
    const spectrum = Float32Array.from({ length: 8 }, (_, index) => 10 * 0.3 ** index);
    const a = addScaled(multiply(scaleColumns(u, spectrum), transpose(v)), randomMatrix(40, 30, 5), 1e-4);
    const first = randomizedSvd(a, 4, 2, 11);
    const second = randomizedSvd(a, 4, 2, 11);
    expect(first.singularValues).toEqual(second.singularValues);
    const exact = truncatedSvd(a, 4);
    // subspace error after niter = 2 shrinks like (σ₅/σ₄)^(2·niter+1) = 0.3^5 ≈ 2.4e-3; singular values converge faster
    for (let i = 0; i < 4; i++) {
      const expected = exact.singularValues[i] as number;
      expect(Math.abs((first.singularValues[i] as number) - expected) / expected).toBeLessThan(1e-3);
    }
  });
});

describe("multiply", () => {
  /** The textbook float64 product: entry (i, j) sums a[i,k]·b[k,j] over ascending k, skipping zero a[i,k]. */
  function referenceProduct(a: ReturnType<typeof matrix>, b: ReturnType<typeof matrix>): Float32Array {
    const result = new Float32Array(a.rows * b.columns);
    for (let i = 0; i < a.rows; i++) {
      for (let j = 0; j < b.columns; j++) {
        let sum = 0;
        for (let k = 0; k < a.columns; k++) {
          const factor = a.data[i * a.columns + k] as number;
          if (factor !== 0) sum += factor * (b.data[k * b.columns + j] as number);
        }
        result[i * b.columns + j] = sum;
      }
    }
    return result;
  }

  it("is bit-identical to the float64 textbook product, zeros and infinities included (property)", () => {
    const special = fc.constantFrom(0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e30, -3.5);
    const entry = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), special);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 9 }),
        fc.infiniteStream(entry),
        (rows, inner, columns, values) => {
          const take = (count: number) => Array.from(values.take(count));
          const a = matrix(rows, inner, take(rows * inner));
          const b = matrix(inner, columns, take(inner * columns));
          const product = multiply(a, b);
          expect([product.rows, product.columns]).toEqual([rows, columns]);
          expect(Array.from(product.data)).toEqual(Array.from(referenceProduct(a, b)));
        },
      ),
      { numRuns: 300 },
    );
  });
});
