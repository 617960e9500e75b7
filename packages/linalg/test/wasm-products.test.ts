import { setBackend, tensor } from "@peftjs/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NonFiniteInputError, svdLowRank, svdTopK } from "../src/index.js";
import { syntheticMatrix } from "./helpers.js";

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
});
