import { tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  LinalgShapeError,
  orthonormalityError,
  reconstructionError,
  subspaceAngles,
  svd,
  svdLowRank,
  svdTopK,
} from "../src/index.js";

describe("diagnostics", () => {
  it("subspaceAngles returns known principal angles, largest first, accurate for tiny angles", () => {
    const theta = 0.3;
    const tiny = 1e-6;
    // span{e1, e2} against span{cos θ·e1 + sin θ·e3, cos τ·e2 + sin τ·e4} in R⁴.
    const x = tensor([1, 0, 0, 1, 0, 0, 0, 0], [4, 2]);
    const y = tensor([Math.cos(theta), 0, 0, Math.cos(tiny), Math.sin(theta), 0, 0, Math.sin(tiny)], [4, 2]);
    const angles = subspaceAngles(x, y);
    expect(angles.length).toBe(2);
    // float32 inputs: sin/cos carry ~6e-8 relative error.
    expect(Math.abs((angles[0] as number) - theta)).toBeLessThan(1e-6);
    expect(Math.abs((angles[1] as number) - tiny)).toBeLessThan(1e-7);
    expect(() => subspaceAngles(x, tensor([1, 0, 0], [3, 1]))).toThrowError(LinalgShapeError);
  });

  it("orthonormalityError measures columns or rows", () => {
    expect(orthonormalityError(tensor([1, 0, 0, 1, 0, 0], [3, 2]))).toBe(0);
    expect(orthonormalityError(tensor([2, 0, 0, 1], [2, 2]))).toBe(3);
    expect(orthonormalityError(tensor([1, 0, 0, 0, 1, 0], [2, 3]), "rows")).toBe(0);
  });

  it("reconstructionError checks the factor shapes", () => {
    const a = tensor([3, 0, 0, 2], [2, 2]);
    const { u, s, vt } = svd(a);
    expect(reconstructionError(a, u, s, vt)).toBeLessThan(1e-7);
    expect(() => reconstructionError(a, vt, s, tensor([1, 0, 0], [1, 3]))).toThrowError(
      "reconstructionError: A [2, 2] does not match U [2, 2], S [2], Vᵀ [1, 3]",
    );
  });
});

describe("iterative methods on degenerate input", () => {
  it("svdTopK and svdLowRank return zeros and orthonormal factors for the zero matrix", () => {
    const zero = tensor(new Float32Array(30 * 20), [30, 20]);
    const top = svdTopK(zero, 3);
    expect(Array.from(top.s.toFloat32Array())).toEqual([0, 0, 0]);
    expect(top.converged).toBe(true);
    expect(orthonormalityError(top.vt, "rows")).toBeLessThan(1e-6);
    const low = svdLowRank(zero, 3);
    expect(Array.from(low.s.toFloat32Array())).toEqual([0, 0, 0]);
    expect(orthonormalityError(low.u)).toBeLessThan(1e-6);
  });

  it("svdTopK with k = min(m, n) equals the full SVD", () => {
    const a = tensor(
      Array.from({ length: 15 }, (_, i) => Math.sin(i * 1.7) + i / 10),
      [5, 3],
    );
    const full = svd(a).s.toFloat32Array();
    const top = svdTopK(a, 3).s.toFloat32Array();
    full.forEach((value, index) => {
      expect(Math.abs(value - (top[index] as number))).toBeLessThan(1e-6 * (full[0] as number));
    });
  });
});
