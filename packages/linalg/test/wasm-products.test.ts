import { setBackend, tensor } from "@peftjs/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NonFiniteInputError, orthonormalityError, svd, svdLowRank, svdTopK } from "../src/index.js";
import { seededNormal, syntheticMatrix } from "./helpers.js";

// On the wasm backend svdLowRank and svdTopK never read A back unless its first product is non-finite:
// these tests pin that NaN/±Infinity are still reported at their exact position, and that the products
// (A·X and Y·A on the wasm GEMM) give the float64 kernels' results to float32 round-off.
describe("products on the wasm backend", () => {
  beforeAll(async () => {
    await setBackend("wasm");
  });
  afterAll(async () => {
    await setBackend("js");
  });

  const cases: ReadonlyArray<readonly [number, number, number, number]> = [
    [40, 30, 7, 29], // tall
    [30, 40, 29, 0], // wide (runs on Aᵀ)
    [35, 35, 0, 0],
  ];
  for (const [rows, cols, row, column] of cases) {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      it(`reports ${bad} at row ${row}, column ${column} of a ${rows}×${cols} matrix`, () => {
        const values = syntheticMatrix(rows, cols, [3, 2, 1], 4).a.toFloat32Array();
        values[row * cols + column] = bad;
        const a = tensor(values, [rows, cols]);
        for (const run of [() => svdLowRank(a, 2, { niter: 1 }), () => svdTopK(a, 2)]) {
          try {
            run();
            expect.unreachable("a non-finite input must throw");
          } catch (error) {
            expect(error).toBeInstanceOf(NonFiniteInputError);
            expect((error as NonFiniteInputError).row).toBe(row);
            expect((error as NonFiniteInputError).column).toBe(column);
          }
        }
      });
    }
  }

  it("matches the float64 products to float32 round-off, tall and wide", () => {
    const spectrum = Array.from({ length: 60 }, (_, i) => 0.7 ** i);
    for (const [m, n] of [
      [150, 60],
      [60, 150],
    ] as const) {
      const synthetic = syntheticMatrix(m, n, spectrum, 12);
      const float64 = svdLowRank(synthetic.a, 6, { niter: 2, seed: 3, products: "float64" });
      const wasm = svdLowRank(synthetic.a, 6, { niter: 2, seed: 3 });
      // Same random matrix and steps; float32 products perturb σᵢ by ~1e-7·σ₁, well inside 1e-5·σ₁.
      const first = float64.s.toFloat32Array();
      const second = wasm.s.toFloat32Array();
      first.forEach((value, index) => {
        expect(Math.abs(value - (second[index] as number))).toBeLessThan(1e-5 * (first[0] as number));
      });
    }
  });

  it("finds the top 16 of a random-weight k/v-projection-sized layer (192 × 576) to float32 accuracy", () => {
    // The PiSSA benchmark's case: a Gaussian layer, leading singular values ~0.3 % of σ₁ apart. Products, basis
    // and re-orthogonalisation in float32 on the wasm GEMM; the rank-16 part PiSSA moves out of W must match the
    // dense float64 SVD's to 1e-5 (measured ~1e-6; LAPACK's float32 SVD is ~1e-5 off on such matrices).
    const normal = seededNormal(17);
    const a = tensor(
      Float32Array.from({ length: 192 * 576 }, () => 0.02 * normal()),
      [192, 576],
    );
    const result = svdTopK(a, 16);
    expect(result.converged).toBe(true);
    expect(result.residual).toBeLessThanOrEqual(1e-6);
    expect(orthonormalityError(result.u)).toBeLessThan(1e-5);
    expect(orthonormalityError(result.vt, "rows")).toBeLessThan(1e-5);
    const full = svd(a);
    const reference = {
      u: full.u.toFloat32Array(),
      s: full.s.toFloat32Array(),
      vt: full.vt.toFloat32Array(),
    };
    const found = {
      u: result.u.toFloat32Array(),
      s: result.s.toFloat32Array(),
      vt: result.vt.toFloat32Array(),
    };
    let difference = 0;
    let norm = 0;
    for (let i = 0; i < 192; i++) {
      for (let j = 0; j < 576; j++) {
        let expected = 0;
        let actual = 0;
        for (let l = 0; l < 16; l++) {
          expected +=
            (reference.u[i * 192 + l] as number) *
            (reference.s[l] as number) *
            (reference.vt[l * 576 + j] as number);
          actual +=
            (found.u[i * 16 + l] as number) * (found.s[l] as number) * (found.vt[l * 576 + j] as number);
        }
        difference += (expected - actual) ** 2;
        norm += expected ** 2;
      }
    }
    expect(Math.sqrt(difference / norm)).toBeLessThan(1e-5);
  });
});
