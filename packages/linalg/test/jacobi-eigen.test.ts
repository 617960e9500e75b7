import { describe, expect, it } from "vitest";
import { jacobiEigen } from "../src/internal/jacobi-eigen.js";
import type { Matrix } from "../src/internal/matrix.js";
import { thinSvd } from "../src/internal/svd-core.js";

/** B·Bᵀ of a q × n matrix with a seeded pseudo-random B whose row scales span `spread`. */
function gramOf(q: number, n: number, spread: number, seed: number): Matrix {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  };
  const b = Array.from({ length: q * n }, (_, index) => next() * spread ** (-Math.floor(index / n) / q));
  const data = new Float64Array(q * q);
  for (let i = 0; i < q; i++) {
    for (let j = 0; j < q; j++) {
      let sum = 0;
      for (let c = 0; c < n; c++) sum += (b[i * n + c] as number) * (b[j * n + c] as number);
      data[i * q + j] = sum;
    }
  }
  return { rows: q, cols: q, data };
}

/** max |V·Vᵀ − I| and max |A − Vᵀ·diag(λ)·V| / ‖A‖_max for eigenvector rows V. */
function residuals(
  a: Matrix,
  values: Float64Array,
  vectors: Matrix,
): { orthogonality: number; reconstruction: number } {
  const n = a.rows;
  let orthogonality = 0;
  let reconstruction = 0;
  const scale = Math.max(...Array.from(a.data, Math.abs));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      let entry = 0;
      for (let k = 0; k < n; k++) {
        dot += (vectors.data[i * n + k] as number) * (vectors.data[j * n + k] as number);
        entry +=
          (vectors.data[k * n + i] as number) * (values[k] as number) * (vectors.data[k * n + j] as number);
      }
      orthogonality = Math.max(orthogonality, Math.abs(dot - (i === j ? 1 : 0)));
      reconstruction = Math.max(reconstruction, Math.abs(entry - (a.data[i * n + j] as number)) / scale);
    }
  }
  return { orthogonality, reconstruction };
}

describe("jacobiEigen", () => {
  it("agrees with the bidiagonal SVD on Gram matrices, eigenvalues descending, vectors orthonormal", () => {
    for (const [q, spread, seed] of [
      [16, 10, 1],
      [16, 1e3, 2],
      [8, 1, 3],
      [1, 1, 4],
    ] as const) {
      const gram = gramOf(q, 64, spread, seed);
      const eigen = jacobiEigen(gram);
      const reference = thinSvd(gram);
      for (let i = 0; i < q; i++) {
        // Jacobi on a positive definite matrix is accurate relative to each eigenvalue (Demmel & Veselić);
        // the reference is accurate relative to the largest, so compare at that scale.
        expect(Math.abs((eigen.values[i] as number) - (reference.s[i] as number))).toBeLessThan(
          1e-13 * (reference.s[0] as number),
        );
        if (i > 0) expect(eigen.values[i]).toBeLessThanOrEqual(eigen.values[i - 1] as number);
      }
      const { orthogonality, reconstruction } = residuals(gram, eigen.values, eigen.vectors);
      expect(orthogonality).toBeLessThan(1e-13);
      expect(reconstruction).toBeLessThan(1e-13);
    }
  });

  it("handles repeated and zero eigenvalues (a rank-deficient Gram matrix)", () => {
    // diag(3, 3, 0) rotated: eigenvalues 3, 3, 0.
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    const rotation = [c, -s, 0, s, c, 0, 0, 0, 1];
    const diagonal = [3, 3, 0];
    const data = new Float64Array(9);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let sum = 0;
        for (let k = 0; k < 3; k++)
          sum += (rotation[i * 3 + k] as number) * (diagonal[k] as number) * (rotation[j * 3 + k] as number);
        data[i * 3 + j] = sum;
      }
    }
    const matrix = { rows: 3, cols: 3, data };
    const eigen = jacobiEigen(matrix);
    expect(Array.from(eigen.values, (value) => Number(value.toFixed(12)))).toEqual([3, 3, 0]);
    const { orthogonality, reconstruction } = residuals(matrix, eigen.values, eigen.vectors);
    expect(orthogonality).toBeLessThan(1e-14);
    expect(reconstruction).toBeLessThan(1e-14);
  });
});
