import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { add, concat, createGenerator, matmul, mul, reshape, slice, tidy, transpose } from "../src/index.js";

const random = createGenerator(11);

/** Shapes of rank 0–3 with small extents (including 0 and 1). */
const shapeArbitrary = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });

/** A shape that broadcasts with `shape`: each axis kept or replaced by 1, possibly with leading axes dropped. */
function broadcastPartner(shape: number[]) {
  return fc
    .tuple(
      fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      fc.integer({ min: 0, max: shape.length }),
    )
    .map(([ones, dropped]) => shape.map((extent, axis) => (ones[axis] ? 1 : extent)).slice(dropped));
}

/** Naive broadcasting reference: the element of `values` (of `shape`) seen at output multi-index `index`. */
function broadcastRead(
  values: Float32Array,
  shape: number[],
  outputShape: number[],
  flatIndex: number,
): number {
  let remainder = flatIndex;
  let offset = 0;
  let stride = 1;
  for (let axis = outputShape.length - 1, own = shape.length - 1; axis >= 0; axis--, own--) {
    const coordinate = remainder % outputShape[axis]!;
    remainder = Math.floor(remainder / outputShape[axis]!);
    if (own >= 0) {
      if (shape[own] !== 1) offset += coordinate * stride;
      stride *= shape[own]!;
    }
  }
  return values[offset]!;
}

describe("algebraic properties (fast-check)", () => {
  it("broadcast add and mul agree with a naive elementwise reference", () => {
    fc.assert(
      fc.property(
        shapeArbitrary.chain((shape) => fc.tuple(fc.constant(shape), broadcastPartner(shape))),
        fc.boolean(),
        ([shape, partner], swap) => {
          tidy(() => {
            const [leftShape, rightShape] = swap ? [partner, shape] : [shape, partner];
            const left = random.uniform(leftShape);
            const right = random.uniform(rightShape);
            const leftValues = left.toFloat32Array();
            const rightValues = right.toFloat32Array();
            const sum = add(left, right);
            const product = mul(left, right);
            const outputShape = [...sum.shape];
            expect(outputShape).toEqual(shape);
            const sums = sum.dataSync();
            const products = product.dataSync();
            for (let index = 0; index < sum.size; index++) {
              const x = broadcastRead(leftValues, leftShape, outputShape, index);
              const y = broadcastRead(rightValues, rightShape, outputShape, index);
              // float32 + and × are correctly rounded: exact agreement with fround of the double result.
              expect(sums[index]).toBe(Math.fround(x + y));
              expect(products[index]).toBe(Math.fround(x * y));
            }
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("(A·B)ᵀ = Bᵀ·Aᵀ through the transpose flags, bit for bit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        (m, k, n) => {
          tidy(() => {
            const a = random.uniform([m, k]);
            const b = random.uniform([k, n]);
            const direct = transpose(matmul(a, b)).dataSync();
            // Bᵀ·Aᵀ with b stored as [k, n] and a as [m, k]: transposeA on b, transposeB on a.
            const flipped = matmul(b, a, { transposeA: true, transposeB: true }).dataSync();
            expect(flipped).toEqual(direct);
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it("concat then slice gives the parts back; transpose twice and reshape round trips are identities", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        (rows, left, right) => {
          tidy(() => {
            const first = random.uniform([rows, left, 3]);
            const second = random.uniform([rows, right, 3]);
            const joined = concat([first, second], 1);
            expect(slice(joined, [0, 0, 0], [rows, left, 3]).dataSync()).toEqual(first.dataSync());
            expect(slice(joined, [0, left, 0], [rows, right, 3]).dataSync()).toEqual(second.dataSync());
            const permuted = transpose(transpose(joined, [2, 0, 1]), [1, 2, 0]);
            expect(permuted.shape).toEqual(joined.shape);
            expect(permuted.dataSync()).toEqual(joined.dataSync());
            expect(reshape(reshape(joined, [-1]), joined.shape).dataSync()).toEqual(joined.dataSync());
          });
        },
      ),
      { numRuns: 40 },
    );
  });
});
