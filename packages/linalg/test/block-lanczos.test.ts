import { type Tensor, tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import { orthonormalityError, type SvdTopKResult, svd, svdTopK } from "../src/index.js";
import { blockLanczosTopK } from "../src/internal/block-lanczos.js";
import { gaussianSource } from "../src/internal/gaussian.js";
import { backendKrylovSpace, hostKrylovSpace } from "../src/internal/krylov-space.js";
import { denseOperator } from "../src/internal/linear-operator.js";
import { seededNormal, syntheticMatrix } from "./helpers.js";

/** A Gaussian m × n matrix scaled like a freshly initialised linear layer (N(0, 0.02²), as transformers' Llama). */
function randomLayer(m: number, n: number, seed: number): Tensor {
  const normal = seededNormal(seed);
  return tensor(
    Float32Array.from({ length: m * n }, () => 0.02 * normal()),
    [m, n],
  );
}

/**
 * ‖U_k·S_k·V_kᵀ − U'_k·S'_k·V'_kᵀ‖_F / ‖U_k·S_k·V_kᵀ‖_F in float64, the first from the dense float64 SVD: what
 * PiSSA moves out of W (s·B₀A₀), free of the sign and rotation ambiguity of the factors.
 */
function truncationError(a: Tensor, top: { u: Tensor; s: Tensor; vt: Tensor }, k: number): number {
  const [m, n] = a.shape as [number, number];
  const full = svd(a);
  const columns = Math.min(m, n);
  const reference = { u: full.u.toFloat32Array(), s: full.s.toFloat32Array(), vt: full.vt.toFloat32Array() };
  const found = { u: top.u.toFloat32Array(), s: top.s.toFloat32Array(), vt: top.vt.toFloat32Array() };
  let difference = 0;
  let norm = 0;
  const row = new Float64Array(n);
  const rowFound = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    rowFound.fill(0);
    for (let l = 0; l < k; l++) {
      const left = (reference.u[i * columns + l] as number) * (reference.s[l] as number);
      const leftFound = (found.u[i * k + l] as number) * (found.s[l] as number);
      for (let j = 0; j < n; j++) {
        row[j] = (row[j] as number) + left * (reference.vt[l * n + j] as number);
        rowFound[j] = (rowFound[j] as number) + leftFound * (found.vt[l * n + j] as number);
      }
    }
    for (let j = 0; j < n; j++) {
      difference += ((row[j] as number) - (rowFound[j] as number)) ** 2;
      norm += (row[j] as number) ** 2;
    }
  }
  return Math.sqrt(difference / norm);
}

function expectOrthonormalFactors(result: SvdTopKResult, tolerance: number): void {
  expect(orthonormalityError(result.u)).toBeLessThan(tolerance);
  expect(orthonormalityError(result.vt, "rows")).toBeLessThan(tolerance);
}

describe("svdTopK on random-weight layers (flat, clustered Marchenko–Pastur spectra)", () => {
  // The benchmark case: a Gaussian layer's leading singular values are ~0.2 % of σ₁ apart (σ₁₆ − σ₁₇ ≈ 0.002·σ₁
  // for 576 × 576), so Krylov methods need a basis of about a third of the dimension here. A subspace error
  // of residual·σ₁/gap ≈ 1e-6/0.004 bounds the truncation difference by ~3e-4; measured it is ~1e-6, below
  // the ~1e-5 of LAPACK's float32 SVD (torch.linalg.svd) on the same matrices.
  const cases: [string, number, number][] = [
    ["tall 300 × 120", 300, 120],
    ["wide 90 × 260 (runs on Aᵀ)", 90, 260],
    ["square 160 × 160", 160, 160],
  ];
  for (const products of ["float64", "backend"] as const) {
    it.each(cases)(`%s, k = 16, products: "${products}"`, (_name, m, n) => {
      const a = randomLayer(m, n, m + 7 * n);
      const result = svdTopK(a, 16, { products });
      expect(result.converged).toBe(true);
      expect(result.residual).toBeLessThanOrEqual(1e-6);
      expect(truncationError(a, result, 16)).toBeLessThan(products === "float64" ? 1e-6 : 1e-5);
      // Returned as float32 (6e-8 round-off per entry); the float32 basis adds about as much again.
      expectOrthonormalFactors(result, products === "float64" ? 1e-6 : 1e-5);
    });
  }
});

describe("svdTopK at the edges", () => {
  it("k above the rank: the zero singular values come with vectors orthogonal to A's range", () => {
    // rank 5, k = 8: the three zero singular values need uᵢ ⊥ range(A) for ‖Aᵀuᵢ‖ ≤ tolerance·σ₁. In float64
    // that is certified to 1e-6; with float32 products the leading uᵢ, hence that orthogonality, carry
    // ~1e-7·σ₁/σ₅ of round-off, so the measured residual stalls near 2e-6 and svdTopK says converged: false
    // (PiSSA's bridge then takes the dense SVD) while the triplets are still right to float32 accuracy.
    const synthetic = syntheticMatrix(150, 90, [5, 4, 3, 2, 1], 41);
    for (const products of ["float64", "backend"] as const) {
      const result = svdTopK(synthetic.a, 8, { products });
      if (products === "float64") {
        expect(result.converged).toBe(true);
        expect(result.residual).toBeLessThanOrEqual(1e-6);
      } else {
        expect(result.residual).toBeLessThanOrEqual(1e-5);
      }
      const values = result.s.toFloat32Array();
      for (let i = 0; i < 5; i++)
        expect(Math.abs((values[i] as number) - (5 - i)) / (5 - i)).toBeLessThan(1e-5);
      for (let i = 5; i < 8; i++) expect(values[i] as number).toBeLessThan(1e-5);
      expectOrthonormalFactors(result, 1e-5);
    }
  });

  it("the zero matrix: zero values, orthonormal factors", () => {
    for (const products of ["float64", "backend"] as const) {
      const result = svdTopK(tensor(new Float32Array(40 * 30), [40, 30]), 5, { products });
      expect(result.converged).toBe(true);
      expect(result.residual).toBe(0);
      expect(Array.from(result.s.toFloat32Array())).toEqual([0, 0, 0, 0, 0]);
      expectOrthonormalFactors(result, 1e-6);
    }
  });

  it("k = min(m, n): the basis spans the whole space and Rayleigh–Ritz is exact", () => {
    const a = randomLayer(70, 24, 3);
    const result = svdTopK(a, 24, { blockSize: 5 });
    expect(result.converged).toBe(true);
    expect(truncationError(a, result, 24)).toBeLessThan(1e-6);
  });

  it("maxIterations below what k needs still returns k triplets (the steps are raised to hold them)", () => {
    const a = randomLayer(60, 50, 8);
    const result = svdTopK(a, 12, { blockSize: 4, maxIterations: 1, tolerance: 1e-12 });
    expect(result.iterations).toBe(3);
    expect(result.converged).toBe(false);
    expect(result.s.shape).toEqual([12]);
  });
});

describe("block Lanczos with a thick restart", () => {
  it("restarted at a 48-vector basis, it reaches the same triplets as the dense SVD", () => {
    const a = randomLayer(200, 150, 12);
    const values = a.toFloat32Array();
    for (const [space, tolerance] of [
      [hostKrylovSpace(denseOperator(200, 150, values)), 1e-6],
      [backendKrylovSpace(a, () => {}), 1e-5],
    ] as const) {
      const result = blockLanczosTopK(
        space,
        { rank: 8, blockSize: 4, maxBasisSize: 48, tolerance: 1e-6, maxIterations: 2000 },
        gaussianSource(1),
      );
      space.dispose();
      expect(result.converged).toBe(true);
      // More than 48 vectors' worth of steps: the basis was restarted on the way.
      expect(result.iterations * 4).toBeGreaterThan(48);
      const top = {
        u: tensor(Float32Array.from(transposeRows(result.ut.data, 8, 200)), [200, 8]),
        s: tensor(Float32Array.from(result.s), [8]),
        vt: tensor(Float32Array.from(result.vt.data), [8, 150]),
      };
      expect(truncationError(a, top, 8)).toBeLessThan(tolerance);
    }
  });
});

/** The columns of a matrix given by its rows (count × length → length × count, row-major). */
function transposeRows(data: Float64Array, count: number, length: number): Float64Array {
  const out = new Float64Array(count * length);
  for (let r = 0; r < count; r++)
    for (let i = 0; i < length; i++) out[i * count + r] = data[r * length + i] as number;
  return out;
}
