import { tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import { orthonormalityError, qr } from "../src/index.js";
import { seededNormal } from "./helpers.js";

/** Float32 outputs of a float64 computation: entries agree with numpy's float64 values to ~1e-7 relative. */
const float32Tolerance = 1e-6;

function expectClose(actual: Float32Array, expected: number[][]): void {
  const flat = expected.flat();
  expect(actual.length).toBe(flat.length);
  flat.forEach((value, index) => {
    expect(Math.abs((actual[index] as number) - value)).toBeLessThan(
      float32Tolerance * (1 + Math.abs(value)),
    );
  });
}

function product(q: Float32Array, r: Float32Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let l = 0; l < k; l++)
      for (let j = 0; j < n; j++)
        out[i * n + j] = (out[i * n + j] as number) + (q[i * k + l] as number) * (r[l * n + j] as number);
  return out;
}

describe("qr", () => {
  it("matches numpy.linalg.qr (LAPACK geqrf signs, no normalisation) on a tall matrix", () => {
    // numpy 2.4 / LAPACK reference values for [[1,2],[3,4],[5,6]].
    const { q, r } = qr(tensor([1, 2, 3, 4, 5, 6], [3, 2]));
    expect(q.shape).toEqual([3, 2]);
    expect(r.shape).toEqual([2, 2]);
    expectClose(q.toFloat32Array(), [
      [-0.16903085094570325, 0.8970852271450607],
      [-0.50709255283711, 0.27602622373694136],
      [-0.8451542547285166, -0.345032779671177],
    ]);
    expectClose(r.toFloat32Array(), [
      [-5.916079783099616, -7.437357441610946],
      [0, 0.8280786712108248],
    ]);
  });

  it("skips reflectors for columns already zero below the pivot, keeping their sign (as LAPACK)", () => {
    const wide = qr(tensor([0, 1, 2, 0, 3, 4], [2, 3]));
    expectClose(wide.q.toFloat32Array(), [
      [1, 0],
      [0, 1],
    ]);
    expectClose(wide.r.toFloat32Array(), [
      [0, 1, 2],
      [0, 3, 4],
    ]);
    const tall = qr(tensor([-2, 1, 0, 3, 0, 4], [3, 2]));
    expectClose(tall.q.toFloat32Array(), [
      [1, 0],
      [0, -0.6],
      [0, -0.8],
    ]);
    expectClose(tall.r.toFloat32Array(), [
      [-2, 1],
      [0, -5],
    ]);
  });

  it.each([
    [40, 12],
    [12, 40],
    [25, 25],
    [1, 7],
    [7, 1],
  ])("factors a random %i × %i matrix: Q orthonormal, R upper triangular, Q·R = A", (m, n) => {
    const normal = seededNormal(m * 100 + n);
    const values = Float32Array.from({ length: m * n }, normal);
    const { q, r } = qr(tensor(values, [m, n]));
    const k = Math.min(m, n);
    expect(q.shape).toEqual([m, k]);
    expect(r.shape).toEqual([k, n]);
    // float32 rounding of float64 factors: orthonormality and the product hold to a few float32 ulps.
    expect(orthonormalityError(q)).toBeLessThan(1e-6);
    const rValues = r.toFloat32Array();
    for (let i = 0; i < k; i++) for (let j = 0; j < Math.min(i, n); j++) expect(rValues[i * n + j]).toBe(0);
    const reconstructed = product(q.toFloat32Array(), rValues, m, k, n);
    let error = 0;
    let norm = 0;
    values.forEach((value, index) => {
      error += (value - (reconstructed[index] as number)) ** 2;
      norm += value * value;
    });
    expect(Math.sqrt(error / norm)).toBeLessThan(1e-6);
  });

  it("stays orthonormal and exact on sparse matrices with zero and repeated columns", () => {
    const normal = seededNormal(77);
    for (let trial = 0; trial < 40; trial++) {
      const m = 1 + (trial % 9) + Math.floor(Math.abs(normal()) * 5);
      const n = 1 + ((trial * 7) % 11);
      const values = Float32Array.from({ length: m * n }, () =>
        Math.abs(normal()) < 1.15 ? 0 : Math.round(normal() * 3),
      );
      // Duplicate column 0 into the last one: an exactly dependent column.
      for (let i = 0; i < m; i++) values[i * n + n - 1] = values[i * n] as number;
      const { q, r } = qr(tensor(values, [m, n]));
      const k = Math.min(m, n);
      expect(orthonormalityError(q)).toBeLessThan(1e-6);
      const reconstructed = product(q.toFloat32Array(), r.toFloat32Array(), m, k, n);
      values.forEach((value, index) => {
        expect(Math.abs(value - (reconstructed[index] as number))).toBeLessThan(1e-5);
      });
    }
  });
});
