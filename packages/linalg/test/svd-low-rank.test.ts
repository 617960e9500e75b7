import { readFileSync } from "node:fs";
import { tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import { LinalgArgumentError, orthonormalityError, reconstructionError, svdLowRank } from "../src/index.js";
import { readSafetensors, syntheticMatrix } from "./helpers.js";

/** Vᵀ as a tensor from svdLowRank's V [n, q]. */
function transposed(v: ReturnType<typeof svdLowRank>["v"]): ReturnType<typeof svdLowRank>["v"] {
  const [n, q] = v.shape as [number, number];
  const values = v.toFloat32Array();
  const out = new Float32Array(n * q);
  for (let i = 0; i < n; i++) for (let j = 0; j < q; j++) out[j * n + i] = values[i * q + j] as number;
  return tensor(out, [q, n]);
}

/** sqrt(Σ_{i ≥ q} σᵢ²): the optimal rank-q Frobenius error (Eckart–Young). */
function optimalError(spectrum: readonly number[], q: number): number {
  return Math.sqrt(spectrum.slice(q).reduce((sum, value) => sum + value * value, 0));
}

function frobenius(spectrum: readonly number[]): number {
  return Math.sqrt(spectrum.reduce((sum, value) => sum + value * value, 0));
}

describe("svdLowRank (torch.svd_lowrank semantics)", () => {
  const fastDecay = Array.from({ length: 120 }, (_, i) => 0.6 ** i);
  it.each([
    [200, 120, 8, 2],
    [120, 200, 8, 2],
    [200, 120, 16, 1],
    [150, 150, 4, 4],
  ])("%i × %i, q = %i, niter = %i: error within 1.5× of the optimal rank-q error", (m, n, q, niter) => {
    const spectrum = fastDecay.slice(0, Math.min(m, n));
    const synthetic = syntheticMatrix(m, n, spectrum, m * 3 + n + q);
    const { u, s, v } = svdLowRank(synthetic.a, q, { niter, seed: 1 });
    expect(u.shape).toEqual([m, q]);
    expect(s.shape).toEqual([q]);
    expect(v.shape).toEqual([n, q]);
    const values = s.toFloat32Array();
    for (let i = 1; i < q; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1] as number);
    // Factors are float32 roundings of orthonormal float64 factors.
    expect(orthonormalityError(u)).toBeLessThan(1e-6);
    expect(orthonormalityError(v)).toBeLessThan(1e-6);
    // reconstructionError is relative to ‖A‖_F; the optimum is relative to the same norm. The acceptance
    // criterion (issue 5) is 1.5×; randomised range finding with decay 0.6 typically lands within 1.01×.
    const relativeOptimum = optimalError(spectrum, q) / frobenius(spectrum);
    expect(reconstructionError(synthetic.a, u, s, transposed(v))).toBeLessThan(1.5 * relativeOptimum);
  });

  it("approximates GloVe 4096 × 100 at rank 16 close to the optimum (numpy: 0.63880 relative)", () => {
    const embeddings = readSafetensors(
      new URL("./fixtures/glove/glove4096x100.safetensors", import.meta.url).pathname,
    ).get("embeddings");
    const reference = JSON.parse(
      readFileSync(new URL("./fixtures/glove/singular_values.json", import.meta.url), "utf8"),
    ) as { rank16_optimal_relative_frobenius_error: number };
    if (embeddings === undefined) throw new Error("fixture without `embeddings`");
    const { u, s, v } = svdLowRank(embeddings, 16, { niter: 4, seed: 0 });
    const error = reconstructionError(embeddings, u, s, transposed(v));
    const optimum = reference.rank16_optimal_relative_frobenius_error;
    // A slowly decaying spectrum (σ₁₆/σ₁₇ ≈ 1.01): niter = 4 gets within a few per cent of the optimum.
    expect(error).toBeGreaterThanOrEqual(optimum * (1 - 1e-6));
    expect(error).toBeLessThan(1.05 * optimum);
  });

  it("is reproducible for a seed and depends on it", () => {
    const synthetic = syntheticMatrix(
      100,
      80,
      Array.from({ length: 80 }, (_, i) => 1 / (1 + i)),
      4,
    );
    const first = svdLowRank(synthetic.a, 6, { niter: 1, seed: 5 });
    const again = svdLowRank(synthetic.a, 6, { niter: 1, seed: 5 });
    const other = svdLowRank(synthetic.a, 6, { niter: 1, seed: 6 });
    expect(Array.from(first.u.toFloat32Array())).toEqual(Array.from(again.u.toFloat32Array()));
    expect(Array.from(first.s.toFloat32Array())).toEqual(Array.from(again.s.toFloat32Array()));
    expect(Array.from(first.s.toFloat32Array())).not.toEqual(Array.from(other.s.toFloat32Array()));
  });

  it("gives the same factors (to float32 round-off) with products through @peftjs/tensor's matmul", () => {
    const synthetic = syntheticMatrix(
      150,
      100,
      Array.from({ length: 100 }, (_, i) => 0.7 ** i),
      12,
    );
    const float64 = svdLowRank(synthetic.a, 6, { niter: 2, seed: 3, products: "float64" });
    const backend = svdLowRank(synthetic.a, 6, { niter: 2, seed: 3, products: "backend" });
    // Same random matrix, same steps; only the product precision differs (float32 vs float64).
    const first = float64.s.toFloat32Array();
    const second = backend.s.toFloat32Array();
    first.forEach((value, index) => {
      expect(Math.abs(value - (second[index] as number))).toBeLessThan(1e-5 * (first[0] as number));
    });
  });

  it.each([
    ["tall", 150, 100],
    ["wide", 100, 150],
  ])(
    "on the backend (CholeskyQR2 on the GEMM), %s: the float64 path's factors to float32 round-off",
    (_name, m, n) => {
      const synthetic = syntheticMatrix(
        m,
        n,
        Array.from({ length: 100 }, (_, i) => 0.8 ** i),
        5,
      );
      const float64 = svdLowRank(synthetic.a, 8, { niter: 3, seed: 4, products: "float64" });
      const backend = svdLowRank(synthetic.a, 8, { niter: 3, seed: 4, products: "backend" });
      // Same random start, same subspace steps (each depends on span(Q) only, so the basis does not matter).
      const first = float64.s.toFloat32Array();
      const second = backend.s.toFloat32Array();
      first.forEach((value, index) => {
        expect(Math.abs(value - (second[index] as number))).toBeLessThan(1e-5 * (first[0] as number));
      });
      // CholeskyQR2 in float32: orthonormal to ~1e-7·κ(Y)², κ ≈ 0.8⁻⁷ ≈ 5 here.
      expect(orthonormalityError(backend.u)).toBeLessThan(1e-5);
      expect(orthonormalityError(backend.v)).toBeLessThan(1e-5);
      expect(reconstructionError(synthetic.a, backend.u, backend.s, transposed(backend.v))).toBeLessThan(
        1.0001 * reconstructionError(synthetic.a, float64.u, float64.s, transposed(float64.v)),
      );
    },
  );

  it("on the backend, q above the rank sends the orthonormalisation to Householder and stays exact", () => {
    // Rank 3 and q = 5: A·R has two null directions, the Gram matrix is singular, Cholesky refuses it.
    const spectrum = [3, 2, 1];
    const synthetic = syntheticMatrix(70, 50, spectrum, 6);
    const { u, s, v } = svdLowRank(synthetic.a, 5, { niter: 2, products: "backend" });
    expect(orthonormalityError(u)).toBeLessThan(1e-5);
    expect(orthonormalityError(v)).toBeLessThan(1e-5);
    expect(reconstructionError(synthetic.a, u, s, transposed(v))).toBeLessThan(1e-6);
    const values = s.toFloat32Array();
    for (const [index, value] of spectrum.entries()) {
      expect(Math.abs((values[index] as number) - value)).toBeLessThan(1e-5);
    }
    expect(values[3] as number).toBeLessThan(1e-5);
  });

  it("is exact when q reaches the rank of A", () => {
    const spectrum = [5, 4, 3, 2, 1];
    const synthetic = syntheticMatrix(60, 40, spectrum, 8);
    const { u, s, v } = svdLowRank(synthetic.a, 5, { niter: 0 });
    // Q spans range(A) exactly, so only float32 rounding of the factors remains.
    expect(reconstructionError(synthetic.a, u, s, transposed(v))).toBeLessThan(1e-6);
    Array.from(s.toFloat32Array()).forEach((value, index) => {
      expect(Math.abs(value - (spectrum[index] as number))).toBeLessThan(1e-5);
    });
  });

  it("validates q and niter", () => {
    const a = tensor(new Float32Array(12).fill(1), [3, 4]);
    expect(() => svdLowRank(a, 4)).toThrowError(LinalgArgumentError);
    expect(() => svdLowRank(a, 4)).toThrowError("svdLowRank: q = 4 must be an integer in [1, 3]");
    expect(() => svdLowRank(a, 2, { niter: -1 })).toThrowError("svdLowRank: niter = -1 must be an integer");
  });
});
