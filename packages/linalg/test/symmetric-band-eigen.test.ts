import { EigenvalueDecomposition, Matrix } from "ml-matrix";
import { describe, expect, it } from "vitest";
import {
  createSymmetricBand,
  setBandEntry,
  topEigenpairsOfBand,
} from "../src/internal/symmetric-band-eigen.js";
import { seededNormal } from "./helpers.js";

/** A symmetric band matrix from a function of (i, j), i ≥ j, as band storage and as an ml-matrix. */
function bandMatrix(size: number, bandwidth: number, entry: (i: number, j: number) => number) {
  const band = createSymmetricBand(size, bandwidth);
  const dense = new Matrix(size, size);
  for (let i = 0; i < size; i++) {
    for (let j = Math.max(0, i - bandwidth); j <= i; j++) {
      const value = entry(i, j);
      setBandEntry(band, i, j, value);
      dense.set(i, j, value);
      dense.set(j, i, value);
    }
  }
  return { band, dense };
}

/** ‖T‖₁, the scale of every tolerance below (backward-stable methods are exact to a few ε·‖T‖). */
function normOf(dense: Matrix): number {
  let norm = 0;
  for (let i = 0; i < dense.rows; i++) {
    let sum = 0;
    for (let j = 0; j < dense.columns; j++) sum += Math.abs(dense.get(i, j));
    norm = Math.max(norm, sum);
  }
  return norm;
}

/** Checks the count largest eigenpairs against ml-matrix's dense symmetric eigensolver (an independent oracle). */
function expectTopEigenpairs(band: ReturnType<typeof bandMatrix>, count: number): void {
  const { values, vectors } = topEigenpairsOfBand(band.band, count);
  const size = band.dense.rows;
  // (the zero matrix's brackets end at the smallest normal number, hence the floor)
  const norm = Math.max(normOf(band.dense), 1e-290);
  const reference = new EigenvalueDecomposition(band.dense, { assumeSymmetric: true }).realEigenvalues
    .slice()
    .sort((a, b) => b - a);
  expect(values.length).toBe(Math.min(count, size));
  for (let i = 0; i < values.length; i++) {
    // Bisection brackets each eigenvalue to 2ε·‖T‖; the band reduction is backward stable.
    expect(Math.abs((values[i] as number) - (reference[i] as number))).toBeLessThan(1e-12 * norm);
    const y = vectors.data.subarray(i * size, (i + 1) * size);
    // Residual ‖T·y − λ·y‖ at round-off level: the vector is an eigenvector of T whatever the clustering.
    let residual = 0;
    for (let r = 0; r < size; r++) {
      let sum = -(values[i] as number) * (y[r] as number);
      for (let c = 0; c < size; c++) sum += band.dense.get(r, c) * (y[c] as number);
      residual += sum * sum;
    }
    expect(Math.sqrt(residual)).toBeLessThan(1e-11 * norm);
    // Orthonormal, including within clusters of equal eigenvalues.
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let r = 0; r < size; r++) dot += (y[r] as number) * (vectors.data[j * size + r] as number);
      expect(Math.abs(dot - (i === j ? 1 : 0))).toBeLessThan(1e-11);
    }
  }
}

describe("top eigenpairs of a symmetric band matrix", () => {
  const cases: [number, number][] = [
    [1, 0],
    [2, 1],
    [7, 0],
    [40, 1],
    [60, 4],
    [97, 8],
    [64, 16],
    [30, 29],
    [20, 40],
  ];
  it.each(cases)("random %i × %i-band: values, residuals, orthonormality", (size, bandwidth) => {
    const normal = seededNormal(size * 31 + bandwidth);
    const matrix = bandMatrix(size, Math.min(bandwidth, Math.max(0, size - 1)), () => normal());
    expectTopEigenpairs(matrix, 12);
  });

  it("repeated eigenvalues (block diagonal copies) get orthonormal eigenvectors", () => {
    // Four identical 5 × 5 blocks on the diagonal: every eigenvalue has multiplicity 4.
    const normal = seededNormal(5);
    const block = Array.from({ length: 25 }, () => normal());
    const matrix = bandMatrix(20, 4, (i, j) =>
      Math.floor(i / 5) === Math.floor(j / 5)
        ? (block[(i % 5) * 5 + (j % 5)] as number) + (block[(j % 5) * 5 + (i % 5)] as number)
        : 0,
    );
    expectTopEigenpairs(matrix, 12);
  });

  it("a tight cluster at the top, as block Lanczos on a random-weight layer produces", () => {
    // T = diag(1 + 1e-9·i for the first 6, then spread) plus a weak band coupling: eigenvalues 1e-9 apart.
    const normal = seededNormal(9);
    const matrix = bandMatrix(80, 3, (i, j) =>
      i === j ? (i < 6 ? 1 + 1e-9 * i : 0.5 - i / 200) : 1e-10 * normal(),
    );
    expectTopEigenpairs(matrix, 10);
  });

  it("the zero matrix and a diagonal one", () => {
    expectTopEigenpairs(
      bandMatrix(10, 2, () => 0),
      4,
    );
    expectTopEigenpairs(
      bandMatrix(10, 2, (i, j) => (i === j ? (i % 3) - 1 : 0)),
      6,
    );
  });
});
