import { readFileSync } from "node:fs";
import { tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import { LinalgArgumentError, subspaceAngles, svd, svdTopK } from "../src/index.js";
import {
  leadingColumns,
  leadingRowsAsColumns,
  maxRelativeError,
  readSafetensors,
  syntheticMatrix,
  toTensor,
} from "./helpers.js";

const fixtures = new URL("./fixtures/", import.meta.url);

/** Frobenius norm of U_k·diag(S_k)·V_kᵀ − U'_k·diag(S'_k)·V'_kᵀ relative to the first, in float64. */
function truncationDifference(
  first: { u: Float32Array; s: Float32Array; vt: Float32Array },
  second: { u: Float32Array; s: Float32Array; vt: Float32Array },
  shape: { m: number; n: number; k: number; firstCols: number; secondCols: number },
): number {
  const { m, n, k, firstCols, secondCols } = shape;
  let difference = 0;
  let norm = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let a = 0;
      let b = 0;
      for (let l = 0; l < k; l++) {
        a +=
          (first.u[i * firstCols + l] as number) * (first.s[l] as number) * (first.vt[l * n + j] as number);
        b +=
          (second.u[i * secondCols + l] as number) *
          (second.s[l] as number) *
          (second.vt[l * n + j] as number);
      }
      difference += (a - b) ** 2;
      norm += a * a;
    }
  }
  return Math.sqrt(difference / norm);
}

describe("svdTopK on the stories260K q/k projections", () => {
  const weights = readSafetensors(new URL("stories260k/qk_projections.safetensors", fixtures).pathname);
  it.each([...weights.keys()])("%s: top-8 triplets agree with the full SVD", (name) => {
    const weight = weights.get(name);
    if (weight === undefined) throw new Error(name);
    const [m, n] = weight.shape as [number, number];
    const full = svd(weight);
    const top = svdTopK(weight, 8);
    expect(top.converged).toBe(true);
    expect(top.u.shape).toEqual([m, 8]);
    expect(top.vt.shape).toEqual([8, n]);
    const fullValues = full.s.toFloat32Array();
    // Singular values: both float64 computations, rounded to float32 (6e-8 relative).
    expect(maxRelativeError(top.s.toFloat32Array(), fullValues.subarray(0, 8))).toBeLessThan(1e-5);
    // Triplets are compared through the rank-8 truncation (sign- and rotation-free); the residual tolerance
    // 1e-6·σ₁ bounds its error by about 1e-6·σ₁/gap, and the gaps here are ≥ 1e-2·σ₁.
    const difference = truncationDifference(
      { u: full.u.toFloat32Array(), s: full.s.toFloat32Array(), vt: full.vt.toFloat32Array() },
      { u: top.u.toFloat32Array(), s: top.s.toFloat32Array(), vt: top.vt.toFloat32Array() },
      { m, n, k: 8, firstCols: Math.min(m, n), secondCols: 8 },
    );
    expect(difference).toBeLessThan(1e-4);
    expect(Math.max(...subspaceAngles(leadingColumns(full.u, 8), top.u))).toBeLessThan(1e-4);
  });
});

describe("svdTopK on synthetic matrices", () => {
  const cases: [string, number, number, number[], number][] = [
    ["geometric, tall", 400, 300, Array.from({ length: 300 }, (_, i) => 0.97 ** i), 10],
    ["geometric, wide", 250, 500, Array.from({ length: 250 }, (_, i) => 0.97 ** i), 10],
    [
      "clustered",
      300,
      300,
      Array.from({ length: 300 }, (_, i) => (i < 4 ? 8 : i < 12 ? 4 : 1 / (1 + i))),
      12,
    ],
    ["flat tail", 300, 200, Array.from({ length: 200 }, (_, i) => (i < 6 ? 6 - i : 0.5)), 6],
    ["rank-deficient", 300, 200, Array.from({ length: 200 }, (_, i) => (i < 20 ? 20 - i : 0)), 8],
  ];
  it.each(cases)("%s: values to 1e-5 relative, subspace angles ≤ 1e-4", (_name, m, n, spectrum, k) => {
    const synthetic = syntheticMatrix(m, n, spectrum, m + n + k);
    const result = svdTopK(synthetic.a, k, { seed: 3 });
    expect(result.converged).toBe(true);
    expect(result.residual).toBeLessThanOrEqual(1e-6);
    expect(maxRelativeError(result.s.toFloat32Array(), synthetic.referenceValues.slice(0, k))).toBeLessThan(
      1e-5,
    );
    // The prescribed factors are the truth; float32 rounding of A moves them by ~1e-7/gap, gaps ≥ 0.03.
    const truthU = toTensor(synthetic.u.subMatrix(0, m - 1, 0, k - 1));
    const truthV = toTensor(synthetic.v.subMatrix(0, n - 1, 0, k - 1));
    expect(Math.max(...subspaceAngles(result.u, truthU))).toBeLessThan(1e-4);
    expect(Math.max(...subspaceAngles(leadingRowsAsColumns(result.vt, k), truthV))).toBeLessThan(1e-4);
  });

  it('runs its products through @peftjs/tensor\'s matmul in float32 with products: "backend"', () => {
    const k = 6;
    const synthetic = syntheticMatrix(
      300,
      200,
      Array.from({ length: 200 }, (_, i) => 0.9 ** i),
      21,
    );
    const result = svdTopK(synthetic.a, k, { products: "backend", tolerance: 1e-5 });
    expect(result.converged).toBe(true);
    // float32 products: values still to 1e-5 relative; angles ≤ 1e-4 since gaps are 10 % of σᵢ.
    expect(maxRelativeError(result.s.toFloat32Array(), synthetic.referenceValues.slice(0, k))).toBeLessThan(
      1e-5,
    );
    const truthU = toTensor(synthetic.u.subMatrix(0, 299, 0, k - 1));
    expect(Math.max(...subspaceAngles(result.u, truthU))).toBeLessThan(1e-4);
    expect(() => svdTopK(synthetic.a, k, { products: "gpu" as "auto" })).toThrowError(
      'svdTopK: products = "gpu" must be "auto", "float64" or "backend"',
    );
  });

  it("is reproducible for a seed and reports its iterations and residual", () => {
    const synthetic = syntheticMatrix(
      200,
      150,
      Array.from({ length: 150 }, (_, i) => 0.95 ** i),
      5,
    );
    const first = svdTopK(synthetic.a, 4, { seed: 9 });
    const second = svdTopK(synthetic.a, 4, { seed: 9 });
    expect(Array.from(first.u.toFloat32Array())).toEqual(Array.from(second.u.toFloat32Array()));
    expect(first.iterations).toBeGreaterThan(0);
    expect(first.iterations).toBe(second.iterations);
  });

  it("stops at maxIterations with converged = false and the achieved residual", () => {
    const synthetic = syntheticMatrix(
      300,
      300,
      Array.from({ length: 300 }, (_, i) => 1 - i / 400),
      6,
    );
    const result = svdTopK(synthetic.a, 4, { maxIterations: 1, tolerance: 1e-12 });
    expect(result.converged).toBe(false);
    expect(result.iterations).toBe(1);
    expect(result.residual).toBeGreaterThan(1e-12);
  });

  it("finds the GloVe top-16 singular values", () => {
    const embeddings = readSafetensors(new URL("glove/glove4096x100.safetensors", fixtures).pathname).get(
      "embeddings",
    );
    const reference = JSON.parse(readFileSync(new URL("glove/singular_values.json", fixtures), "utf8")) as {
      singular_values: number[];
    };
    if (embeddings === undefined) throw new Error("fixture without `embeddings`");
    const result = svdTopK(embeddings, 16);
    expect(result.converged).toBe(true);
    // Residual ≤ 1e-6·σ₁ bounds |σᵢ − σᵢ*| by 1e-6·σ₁ ≈ 2e-4, i.e. ≤ 1e-5 relative for σ₁₆ = 37.6.
    expect(maxRelativeError(result.s.toFloat32Array(), reference.singular_values.slice(0, 16))).toBeLessThan(
      1e-5,
    );
  });

  it("validates k and the options", () => {
    const a = tensor(new Float32Array(12).fill(1), [3, 4]);
    expect(() => svdTopK(a, 4)).toThrowError(LinalgArgumentError);
    expect(() => svdTopK(a, 4)).toThrowError("svdTopK: k = 4 must be an integer in [1, 3]");
    expect(() => svdTopK(a, 1, { tolerance: 0 })).toThrowError("tolerance = 0 must be a finite number > 0");
    expect(() => svdTopK(a, 1, { maxIterations: 0 })).toThrowError(LinalgArgumentError);
  });
});
