import { readFileSync } from "node:fs";
import { tensor } from "@peftjs/tensor";
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { describe, expect, it } from "vitest";
import {
  LinalgShapeError,
  NonFiniteInputError,
  orthonormalityError,
  reconstructionError,
  subspaceAngles,
  svd,
} from "../src/index.js";
import {
  leadingColumns,
  leadingRowsAsColumns,
  maxRelativeError,
  readSafetensors,
  seededNormal,
  syntheticMatrix,
  toTensor,
} from "./helpers.js";

const fixtures = new URL("./fixtures/", import.meta.url);

describe("svd on GloVe 4096 × 100 (numpy float64 reference)", () => {
  const embeddings = readSafetensors(new URL("glove/glove4096x100.safetensors", fixtures).pathname).get(
    "embeddings",
  );
  const reference = JSON.parse(readFileSync(new URL("glove/singular_values.json", fixtures), "utf8")) as {
    singular_values: number[];
  };
  if (embeddings === undefined) throw new Error("fixture without `embeddings`");
  const { u, s, vt } = svd(embeddings);

  it("returns thin factors with S descending", () => {
    expect(u.shape).toEqual([4096, 100]);
    expect(s.shape).toEqual([100]);
    expect(vt.shape).toEqual([100, 100]);
    const values = s.toFloat32Array();
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1] as number);
  });

  it("matches all 100 singular values to 1e-5 relative", () => {
    // Both sides compute in float64 from the same float32 matrix; the only loss is our float32 output (6e-8).
    expect(maxRelativeError(s.toFloat32Array(), reference.singular_values)).toBeLessThan(1e-5);
  });

  it("reconstructs A to 1e-6 and has orthonormal U and V to 1e-6", () => {
    // Float32 factors of an exact float64 SVD: each rounding contributes ~6e-8, far below 1e-6.
    expect(reconstructionError(embeddings, u, s, vt)).toBeLessThan(1e-6);
    expect(orthonormalityError(u)).toBeLessThan(1e-6);
    expect(orthonormalityError(vt, "rows")).toBeLessThan(1e-6);
  });
});

/** Spectra with 60 values: geometric (condition 5e5), flat (all equal), clustered, rank-deficient. */
const spectra: Record<string, number[]> = {
  geometric: Array.from({ length: 60 }, (_, i) => 0.8 ** i),
  flat: Array.from({ length: 60 }, () => 3),
  clustered: Array.from({ length: 60 }, (_, i) => (i < 5 ? 10 : i < 20 ? 5 - 1e-6 * i : 1)),
  rankDeficient: Array.from({ length: 60 }, (_, i) => (i < 25 ? 25 - i : 0)),
};

describe.each(Object.keys(spectra))("svd of synthetic matrices, %s spectrum", (name) => {
  const spectrum = spectra[name] as number[];
  it.each([
    [90, 60],
    [60, 90],
    [60, 60],
  ])("%i × %i: values, reconstruction, orthonormality", (m, n) => {
    const synthetic = syntheticMatrix(m, n, spectrum, m + 7 * n + name.length);
    const { u, s, vt } = svd(synthetic.a);
    const values = s.toFloat32Array();
    expect(values.length).toBe(60);
    // Against ml-matrix's float64 SVD of the same float32 matrix: 1e-5 relative on every non-zero value.
    const largest = synthetic.referenceValues[0] as number;
    const significant = synthetic.referenceValues.map((value) => (value > 1e-9 * largest ? value : 0));
    expect(maxRelativeError(values, significant)).toBeLessThan(1e-5);
    // Against the prescribed spectrum: the float32 rounding of A moves σᵢ by ≲ 1e-7·‖A‖_F (Weyl).
    spectrum.forEach((value, index) => {
      expect(Math.abs((values[index] as number) - value)).toBeLessThan(1e-6 * largest);
    });
    expect(reconstructionError(synthetic.a, u, s, vt)).toBeLessThan(1e-6);
    expect(orthonormalityError(u)).toBeLessThan(1e-6);
    expect(orthonormalityError(vt, "rows")).toBeLessThan(1e-6);
  });
});

describe("svd singular vectors", () => {
  it("span the prescribed singular subspaces (geometric spectrum, well separated)", () => {
    const spectrum = Array.from({ length: 30 }, (_, i) => 2 * 0.7 ** i);
    const synthetic = syntheticMatrix(80, 50, spectrum, 11);
    const { u, vt } = svd(synthetic.a);
    const leadingU = leadingColumns(u, 5);
    const truthU = toTensor(synthetic.u.subMatrix(0, 79, 0, 4));
    // Gap between σ₅ and σ₆ is 0.3·σ₅; float32 rounding perturbs by ~1e-7: angles far below 1e-4.
    expect(Math.max(...subspaceAngles(leadingU, truthU))).toBeLessThan(1e-4);
    const truthV = toTensor(synthetic.v.subMatrix(0, 49, 0, 4));
    expect(Math.max(...subspaceAngles(leadingRowsAsColumns(vt, 5), truthV))).toBeLessThan(1e-4);
  });
});

describe("svd of sparse and structured matrices (zero diagonal entries in the bidiagonal)", () => {
  it("matches ml-matrix on 60 random sparse matrices of random shapes", () => {
    const normal = seededNormal(2024);
    for (let trial = 0; trial < 60; trial++) {
      const m = 1 + Math.floor(Math.abs(normal()) * 6) + (trial % 7);
      const n = 1 + Math.floor(Math.abs(normal()) * 6) + (trial % 5);
      // ~75 % exact zeros and small integers: whole zero rows/columns and exactly singular blocks are common.
      const values = Float32Array.from({ length: m * n }, () =>
        Math.abs(normal()) < 1.15 ? 0 : Math.round(normal() * 4),
      );
      const a = tensor(values, [m, n]);
      const { u, s, vt } = svd(a);
      const oracle = new Matrix(m, n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) oracle.set(i, j, values[i * n + j] as number);
      const reference = new SingularValueDecomposition(oracle, { autoTranspose: true }).diagonal;
      const computed = s.toFloat32Array();
      const scale = Math.max(1, reference[0] ?? 0);
      reference.forEach((value, index) => {
        expect(Math.abs((computed[index] as number) - value)).toBeLessThan(1e-6 * scale);
      });
      if (values.some((value) => value !== 0)) expect(reconstructionError(a, u, s, vt)).toBeLessThan(1e-6);
      expect(orthonormalityError(u)).toBeLessThan(1e-6);
      expect(orthonormalityError(vt, "rows")).toBeLessThan(1e-6);
    }
  });

  it("handles an upper bidiagonal input with zeros on its diagonal", () => {
    // d = [1, 0, 2, 0], e = [1, 1, 1]: both the "zero in the middle" and "zero at the bottom" deflations.
    const values = [1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 2, 1, 0, 0, 0, 0];
    const a = tensor(values, [4, 4]);
    const { u, s, vt } = svd(a);
    const oracle = new Matrix(4, 4);
    values.forEach((value, index) => {
      oracle.set(Math.floor(index / 4), index % 4, value);
    });
    const reference = new SingularValueDecomposition(oracle).diagonal;
    expect(maxRelativeError(s.toFloat32Array(), reference)).toBeLessThan(1e-6);
    expect(reconstructionError(a, u, s, vt)).toBeLessThan(1e-6);
  });
});

describe("svd edge cases", () => {
  it.each([
    [1, 7],
    [7, 1],
    [1, 1],
  ])("%i × %i", (m, n) => {
    const normal = seededNormal(m + n);
    const values = Float32Array.from({ length: m * n }, normal);
    const { u, s, vt } = svd(tensor(values, [m, n]));
    const norm = Math.hypot(...values);
    expect(u.shape).toEqual([m, 1]);
    expect(vt.shape).toEqual([1, n]);
    expect(Math.abs((s.toFloat32Array()[0] as number) - norm)).toBeLessThan(1e-6 * norm);
    expect(reconstructionError(tensor(values, [m, n]), u, s, vt)).toBeLessThan(1e-6);
  });

  it("returns zero singular values and orthonormal factors for the zero matrix", () => {
    const zero = tensor(new Float32Array(6 * 4), [6, 4]);
    const { u, s, vt } = svd(zero);
    expect(Array.from(s.toFloat32Array())).toEqual([0, 0, 0, 0]);
    expect(orthonormalityError(u)).toBeLessThan(1e-6);
    expect(orthonormalityError(vt, "rows")).toBeLessThan(1e-6);
  });

  it("handles repeated singular values (the identity and a scaled orthogonal matrix)", () => {
    const identity = tensor(
      Float32Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0)),
      [5, 5],
    );
    const result = svd(identity);
    for (const value of result.s.toFloat32Array()) expect(Math.abs(value - 1)).toBeLessThan(1e-7);
    expect(reconstructionError(identity, result.u, result.s, result.vt)).toBeLessThan(1e-6);
  });

  it("rejects NaN and Infinity with their row and column", () => {
    const values = new Float32Array(12);
    values[7] = Number.NaN;
    expect(() => svd(tensor(values, [3, 4]))).toThrowError(NonFiniteInputError);
    expect(() => svd(tensor(values, [3, 4]))).toThrowError("holds NaN at row 1, column 3");
    values[7] = 0;
    values[10] = Number.NEGATIVE_INFINITY;
    try {
      svd(tensor(values, [3, 4]));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(NonFiniteInputError);
      expect((error as NonFiniteInputError).row).toBe(2);
      expect((error as NonFiniteInputError).column).toBe(2);
      expect((error as NonFiniteInputError).code).toBe("linalg_non_finite");
      // Recognised as a PeftjsError across copies through the shared Symbol.for marker.
      expect((error as Record<symbol, unknown>)[Symbol.for("peftjs.error")]).toBe(true);
    }
  });

  it("rejects tensors that are not non-empty matrices", () => {
    expect(() => svd(tensor([1, 2, 3], [3]))).toThrowError(LinalgShapeError);
    expect(() => svd(tensor([1, 2, 3], [3]))).toThrowError("svd: expected a 2-D matrix, got shape [3]");
    expect(() => svd(tensor([], [0, 3]))).toThrowError("svd: the matrix of shape [0, 3] is empty");
  });
});
