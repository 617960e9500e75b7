import { describe, expect, it } from "vitest";
import { type Matrix, transposeMatrix } from "../src/internal/matrix.js";
import { householderQr, householderQrOfColumns } from "../src/internal/qr-core.js";
import { seededNormal } from "./helpers.js";

/** n columns of length m as the rows of an n × m matrix; `edit` may overwrite some of them. */
function columnsOf(m: number, n: number, seed: number, edit?: (data: Float64Array) => void): Matrix {
  const normal = seededNormal(seed);
  const data = Float64Array.from({ length: n * m }, normal);
  edit?.(data);
  return { rows: n, cols: m, data };
}

function maxDifference(first: Float64Array, second: Float64Array): number {
  expect(first.length).toBe(second.length);
  let largest = 0;
  first.forEach((value, index) => {
    largest = Math.max(largest, Math.abs(value - (second[index] as number)));
  });
  return largest;
}

// The column-wise QR of the randomised methods must be the row-major Householder QR (same reflectors, so
// the same signs): only the summation order of its dot products differs, i.e. agreement to ~1e-15 on
// O(1) entries; 1e-12 leaves room for accumulation over m = 300 while any sign or reflector slip is O(1).
describe("householderQrOfColumns", () => {
  const cases: Array<[string, Matrix]> = [
    ["tall 300×16", columnsOf(300, 16, 1)],
    ["square 40×40", columnsOf(40, 40, 2)],
    ["one column", columnsOf(25, 1, 3)],
    ["a single row", columnsOf(1, 1, 4)],
    ["wide 6×9 (falls back to the row-major QR)", columnsOf(6, 9, 5)],
    [
      // (a repeated column is left out: its reflector is built from round-off, so it is arbitrary in both)
      "a zero column (τ = 0)",
      columnsOf(50, 6, 6, (data) => {
        data.fill(0, 4 * 50, 5 * 50);
      }),
    ],
    [
      "a column already along e₁ below the diagonal (τ = 0)",
      columnsOf(30, 4, 7, (data) => {
        data.fill(0, 1, 30);
      }),
    ],
  ];
  for (const [name, columns] of cases) {
    it(`equals householderQr of the transpose: ${name}`, () => {
      const expected = householderQr(transposeMatrix(columns));
      const actual = householderQrOfColumns(columns);
      expect([actual.qt.rows, actual.qt.cols]).toEqual([expected.qt.rows, expected.qt.cols]);
      expect([actual.r.rows, actual.r.cols]).toEqual([expected.r.rows, expected.r.cols]);
      expect(maxDifference(actual.qt.data, expected.qt.data)).toBeLessThan(1e-12);
      expect(maxDifference(actual.r.data, expected.r.data)).toBeLessThan(1e-12);
    });
  }
});
