import { afterEach, describe, expect, it, vi } from "vitest";
import { seededNormal } from "./helpers.js";

// Where WebAssembly SIMD is missing or compiling is forbidden (a content security policy), the SVD and QR
// kernels run as plain JavaScript loops. Node always has WebAssembly, so this test hides it, reloads the
// package, and checks the fallback against the WebAssembly path on the same inputs.
const shapes: [number, number][] = [
  [1, 1],
  [7, 1],
  [1, 9],
  [33, 17],
  [17, 33],
  [64, 64],
];

function matrixValues(rows: number, columns: number, seed: number): Float32Array {
  const normal = seededNormal(seed);
  return Float32Array.from({ length: rows * columns }, normal);
}

async function decompose(values: Float32Array, shape: [number, number]) {
  const { tensor } = await import("@peftjs/tensor");
  const { orthonormalityError, qr, reconstructionError, svd } = await import("../src/index.js");
  const a = tensor(values, shape);
  const { u, s, vt } = svd(a);
  const { q, r } = qr(a);
  return {
    singularValues: s.toFloat32Array(),
    reconstruction: reconstructionError(a, u, s, vt),
    orthonormality: Math.max(orthonormalityError(u), orthonormalityError(vt, "rows"), orthonormalityError(q)),
    qrShapes: [q.shape, r.shape],
  };
}

describe("plain JavaScript kernels (no WebAssembly)", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it.each(shapes)("svd and qr of %i×%i agree with the WebAssembly path", async (rows, columns) => {
    const values = matrixValues(rows, columns, rows * 131 + columns);
    const withWasm = await decompose(values, [rows, columns]);
    vi.resetModules();
    vi.stubGlobal("WebAssembly", undefined);
    const withoutWasm = await decompose(values, [rows, columns]);
    // Both paths compute in float64 and only sum dot products in another order, so the float32-rounded
    // singular values agree to float32 resolution, and both decompositions are accurate to float64 level.
    for (let index = 0; index < withWasm.singularValues.length; index++) {
      const reference = withWasm.singularValues[index]!;
      expect(Math.abs(withoutWasm.singularValues[index]! - reference)).toBeLessThanOrEqual(
        2e-7 * Math.max(1, reference),
      );
    }
    expect(withoutWasm.reconstruction).toBeLessThan(1e-6);
    expect(withoutWasm.orthonormality).toBeLessThan(1e-6);
    expect(withoutWasm.qrShapes).toEqual(withWasm.qrShapes);
  });
});
