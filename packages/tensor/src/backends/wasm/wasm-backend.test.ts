import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { KernelName, StorageValues, TensorInfo } from "../../backend/backend.js";
import { isBackendRegistered, registerBackend } from "../../backend/registry.js";
import { narrowToHalf } from "../../dtype/half-precision.js";
import { conformanceCases, runConformanceCase } from "../../testing/index.js";
import { cpuKernels } from "../js/cpu-kernels.js";
import type { CpuTensor } from "../js/cpu-tensor.js";
import { gemmBlocking } from "./generated/kernels-binary.js";
import { WasmBackend, wasmBackendDefinition } from "./index.js";

/** Deterministic values in [-1, 1) (no generator needed for kernel-level checks). */
function pattern(size: number, salt: number): Float32Array {
  const values = new Float32Array(size);
  for (let index = 0; index < size; index++)
    values[index] = ((index * 7919 + salt * 104729) % 2003) / 1001.5 - 1;
  return values;
}

function runKernel(
  backend: WasmBackend,
  name: KernelName,
  inputs: readonly CpuTensor[],
  attributes: object,
): StorageValues {
  const handles: TensorInfo[] = inputs.map((input) => ({
    handle: backend.upload(input.values.slice(), input.dtype),
    shape: input.shape,
    dtype: input.dtype,
  }));
  const kernel = backend.kernels[name] as (
    inputs: readonly TensorInfo[],
    attributes: object,
    backend: WasmBackend,
  ) => TensorInfo;
  const output = kernel(handles, attributes, backend);
  const size = output.shape.reduce((product, extent) => product * extent, 1);
  const values = backend.read(output.handle, output.dtype, size).slice();
  backend.dispose(output.handle);
  for (const handle of handles) backend.dispose(handle.handle);
  return values;
}

function referenceKernel(name: KernelName, inputs: readonly CpuTensor[], attributes: object): StorageValues {
  return (cpuKernels[name] as (inputs: readonly CpuTensor[], attributes: object) => CpuTensor)(
    inputs,
    attributes,
  ).values;
}

/** Largest |actual − expected| / (1 + |expected|). */
function largestError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let largest = 0;
  for (let index = 0; index < actual.length; index++) {
    largest = Math.max(
      largest,
      Math.abs(actual[index]! - expected[index]!) / (1 + Math.abs(expected[index]!)),
    );
  }
  return largest;
}

const threaded = new WasmBackend({ threads: 2 });
const single = new WasmBackend({ threads: 1 });

beforeAll(async () => {
  expect((await threaded.initialize()).available).toBe(true);
  expect((await single.initialize()).available).toBe(true);
});

afterAll(() => {
  threaded.close();
});

describe("wasm backend initialisation", () => {
  it("reports SIMD, relaxed SIMD and the thread count", async () => {
    const availability = await threaded.initialize();
    expect(availability.reason).toMatch(/WebAssembly SIMD kernels .* on 2 threads/);
    expect(availability.details).toMatchObject({ threads: 2, sharedMemory: true });
    expect((await single.initialize()).details).toMatchObject({ threads: 1, sharedMemory: false });
  });

  it("refuses relaxed SIMD where the engine does not validate it, and uses it where it does", async () => {
    const forced = new WasmBackend({ threads: 1, relaxedSimd: true });
    const availability = await forced.initialize();
    const validates = WebAssembly.validate(
      // (module (func (param v128) (result v128) local.get 0 local.get 0 local.get 0 f32x4.relaxed_madd))
      new Uint8Array([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 0,
        32, 0, 253, 133, 2, 11,
      ]),
    );
    expect(availability.available).toBe(validates);
    if (!validates) expect(availability.reason).toContain("relaxed");
  });
});

describe("wasm GEMM against the js reference", () => {
  // Odd sizes straddle every tile edge (MR = 4, NR = 8, MC = 64, NC = 512, k cut into equal slices of at most
  // KC = 640, row-major B packed 8 panels at a time); float32 sums of k products of values in [-1, 1) differ
  // from the js order by about √k·2⁻²⁴ typically (k·2⁻²⁴ at worst): 1e-4 relative covers every depth here
  // (1100 is two packed slices; 41000 exceeds the in-place slice depth of 20480, so three slices accumulate).
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [4, 16, 256],
    [5, 17, 257],
    [33, 31, 300],
    [130, 129, 20],
    [9, 2100, 3],
    [70, 600, 1100],
    [32, 44, 700],
    [33, 44, 700],
    [300, 24, 520],
    [6, 20, 41000],
    [2, 3, 0],
  ];
  for (const [m, n, k] of shapes) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        it(`${m}x${k} · ${k}x${n}${transposeA ? " transposeA" : ""}${transposeB ? " transposeB" : ""}`, () => {
          const inputs: CpuTensor[] = [
            {
              values: pattern(m * k, 1),
              shape: [1, transposeA ? k : m, transposeA ? m : k],
              dtype: "float32",
            },
            {
              values: pattern(k * n, 2),
              shape: [1, transposeB ? n : k, transposeB ? k : n],
              dtype: "float32",
            },
          ];
          const attributes = { transposeA, transposeB };
          const expected = referenceKernel("matmul", inputs, attributes);
          expect(largestError(runKernel(threaded, "matmul", inputs, attributes), expected)).toBeLessThan(
            1e-4,
          );
          expect(largestError(runKernel(single, "matmul", inputs, attributes), expected)).toBeLessThan(1e-4);
        });
      }
    }
  }

  it("splits batched and broadcast products across threads (claimed dynamically) with the same result as one thread", () => {
    const inputs: CpuTensor[] = [
      { values: pattern(3 * 70 * 90, 3), shape: [3, 70, 90], dtype: "float32" },
      { values: pattern(90 * 110, 4), shape: [1, 90, 110], dtype: "float32" },
    ];
    const attributes = { transposeA: false, transposeB: false };
    // Both thread counts run the same micro-kernel over the same k order per element: bit-identical.
    expect(runKernel(threaded, "matmul", inputs, attributes)).toEqual(
      runKernel(single, "matmul", inputs, attributes),
    );
    expect(
      largestError(
        runKernel(threaded, "matmul", inputs, attributes),
        referenceKernel("matmul", inputs, attributes),
      ),
    ).toBeLessThan(1e-4);
  });

  it("runs a job list longer than one claim word holds (40,000 batched products, published in parts)", () => {
    // One job per batch: 40,000 > 32,767 (the claim word's 15-bit count), so the pool publishes two lists.
    const inputs: CpuTensor[] = [
      { values: pattern(40_000 * 2 * 3, 9), shape: [40_000, 2, 3], dtype: "float32" },
      { values: pattern(3 * 2, 10), shape: [1, 3, 2], dtype: "float32" },
    ];
    const attributes = { transposeA: false, transposeB: false };
    const result = runKernel(threaded, "matmul", inputs, attributes);
    expect(result).toEqual(runKernel(single, "matmul", inputs, attributes));
    expect(largestError(result, referenceKernel("matmul", inputs, attributes))).toBeLessThan(1e-5);
  });

  it("reports a trapping GEMM call from any thread and keeps working afterwards", () => {
    // Out-of-bounds pointers trap in whichever thread claims the call (a worker or the caller).
    const outside = 0xfffff000;
    const bad = [16, 16, 16, outside, 16, 0, outside, 16, 0, outside, 16, 0, 0] as const;
    expect(() => threaded.runGemm([bad, bad, bad, bad])).toThrow();
    const inputs: CpuTensor[] = [
      { values: pattern(200 * 90, 7), shape: [1, 200, 90], dtype: "float32" },
      { values: pattern(90 * 80, 8), shape: [1, 90, 80], dtype: "float32" },
    ];
    const attributes = { transposeA: false, transposeB: false };
    expect(
      largestError(
        runKernel(threaded, "matmul", inputs, attributes),
        referenceKernel("matmul", inputs, attributes),
      ),
    ).toBeLessThan(1e-4);
  });

  it("handles a tall-skinny product (B read in place, rows split across threads)", () => {
    const inputs: CpuTensor[] = [
      { values: pattern(515 * 700, 5), shape: [1, 515, 700], dtype: "float32" },
      { values: pattern(700 * 16, 6), shape: [1, 700, 16], dtype: "float32" },
    ];
    const attributes = { transposeA: false, transposeB: false };
    expect(
      largestError(
        runKernel(threaded, "matmul", inputs, attributes),
        referenceKernel("matmul", inputs, attributes),
      ),
    ).toBeLessThan(2e-4);
  });
});

describe("wasm elementwise and row kernels against the js reference", () => {
  const float = (shape: number[], salt: number, scaleBy = 1): CpuTensor => ({
    values: pattern(
      shape.reduce((product, extent) => product * extent, 1),
      salt,
    ).map((value) => value * scaleBy),
    shape,
    dtype: "float32",
  });
  /** Values in [0.5, 1.5): safe divisors. */
  const positive = (shape: number[], salt: number): CpuTensor => {
    const tensor = float(shape, salt, 0.5);
    return { ...tensor, values: (tensor.values as Float32Array).map((value) => value + 1) };
  };
  // Tolerances: +, −, ×, ÷, √, clamp, scale, axpy and RMS norm round exactly as the reference (0); exp-based
  // kernels use a polynomial exp within a few float32 ulp (4e-6); softmax adds a float32 sum (1e-5).
  const cases: [string, KernelName, CpuTensor[], object, number][] = [
    ["add same shape", "add", [float([7, 9], 1), float([7, 9], 2)], { outputShape: [7, 9] }, 0],
    ["sub row broadcast", "sub", [float([5, 13], 3), float([1, 13], 4)], { outputShape: [5, 13] }, 0],
    ["mul scalar broadcast", "mul", [float([1, 1], 5), float([6, 11], 6)], { outputShape: [6, 11] }, 0],
    ["div general broadcast", "div", [float([3, 1], 7), positive([1, 5], 8)], { outputShape: [3, 5] }, 0],
    ["scale", "scale", [float([37], 9)], { factor: 0.1 }, 0],
    ["axpy", "axpy", [float([41], 10), float([41], 11)], { alpha: 0.3 }, 0],
    ["neg", "neg", [float([19], 12)], {}, 0],
    ["clamp", "clamp", [float([23], 13)], { min: -0.25, max: Number.POSITIVE_INFINITY }, 0],
    ["exp", "exp", [float([3, 67], 14, 20)], {}, 4e-6],
    ["silu", "silu", [float([4, 129], 15, 12)], {}, 4e-6],
    ["sigmoid", "sigmoid", [float([129], 16, 12)], {}, 4e-6],
    ["softmax", "softmax", [float([6, 131], 17, 50)], {}, 1e-5],
    ["rmsNorm", "rmsNorm", [float([5, 67], 18), float([67], 19)], { epsilon: 1e-6 }, 0],
    ["sum inner", "sum", [float([3, 1001, 1], 20)], {}, 1e-7],
    ["sum middle", "sum", [float([7, 13, 6], 21)], {}, 1e-7],
    ["max inner", "max", [float([3, 1001, 1], 23)], {}, 0],
    ["max middle", "max", [float([7, 13, 6], 24)], {}, 0],
    ["frobeniusNorm", "frobeniusNorm", [float([17, 9], 22)], {}, 1e-7],
  ];
  for (const [name, kernel, inputs, attributes, tolerance] of cases) {
    it(name, () => {
      expect(
        largestError(
          runKernel(threaded, kernel, inputs, attributes),
          referenceKernel(kernel, inputs, attributes),
        ),
      ).toBeLessThanOrEqual(tolerance);
    });
  }

  it("exp handles the float32 range ends and NaN like Math.exp", () => {
    const values = new Float32Array([
      Number.NEGATIVE_INFINITY,
      -200,
      -100,
      -87.5,
      0,
      88.5,
      88.8,
      100,
      Number.POSITIVE_INFINITY,
      Number.NaN,
    ]);
    const actual = runKernel(threaded, "exp", [{ values, shape: [values.length], dtype: "float32" }], {});
    const expected = Float32Array.from(values, (value) => Math.exp(value));
    for (let index = 0; index < values.length; index++) {
      const reference = expected[index]!;
      if (Number.isNaN(reference) || !Number.isFinite(reference) || reference === 0)
        expect(actual[index]).toBe(reference);
      // Subnormal results keep absolute accuracy (1e-44 covers the coarse subnormal spacing).
      else
        expect(Math.abs(actual[index]! - reference)).toBeLessThanOrEqual(Math.max(1e-44, 4e-6 * reference));
    }
  });

  it("log matches Math.log within a few ulp, subnormals and special values included", () => {
    const values = new Float32Array([
      ...Array.from({ length: 203 }, (_, index) => 1e-3 * 1.07 ** index),
      1,
      // around the √½ switch of the mantissa reduction
      Math.SQRT1_2 * (1 - 2 ** -23),
      Math.SQRT1_2,
      Math.SQRT1_2 * (1 + 2 ** -23),
      Math.SQRT2,
      1e-40,
      1.4e-45,
      3.4e38,
      0,
      -0,
      -1,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    ]);
    const actual = runKernel(threaded, "log", [{ values, shape: [values.length], dtype: "float32" }], {});
    for (let index = 0; index < values.length; index++) {
      const reference = Math.fround(Math.log(values[index]!));
      if (!Number.isFinite(reference)) expect(actual[index]).toBe(reference);
      // A few float32 ulp of the result, absolute near log(1) = 0 (the conformance table's transcendental tolerance).
      else
        expect(Math.abs(actual[index]! - reference)).toBeLessThanOrEqual(1e-6 + 4e-6 * Math.abs(reference));
    }
  });

  it("max propagates NaN and gives -Infinity for an empty axis, as the reference", () => {
    const values = new Float32Array([1, Number.NaN, 3, -2, 5, 4, 0, 9, 8, 7, 6, Number.NaN]);
    for (const shape of [
      [2, 6, 1],
      [1, 2, 6],
      [3, 4, 1],
    ]) {
      const inputs: CpuTensor[] = [{ values, shape, dtype: "float32" }];
      expect(Array.from(runKernel(threaded, "max", inputs, {}))).toEqual(
        Array.from(referenceKernel("max", inputs, {})),
      );
    }
    const empty: CpuTensor[] = [{ values: new Float32Array(0), shape: [2, 0, 3], dtype: "float32" }];
    expect(Array.from(runKernel(threaded, "max", empty, {}))).toEqual(
      Array(6).fill(Number.NEGATIVE_INFINITY),
    );
  });

  it("keeps int32 tensors on the reference path", () => {
    const left: CpuTensor = { values: new Int32Array([1, -2, 3, 7]), shape: [2, 2], dtype: "int32" };
    const right: CpuTensor = { values: new Int32Array([2]), shape: [1, 1], dtype: "int32" };
    expect(Array.from(runKernel(threaded, "div", [left, right], { outputShape: [2, 2] }))).toEqual([
      0, -1, 1, 3,
    ]);
    expect(Array.from(runKernel(threaded, "neg", [left], {}))).toEqual([-1, 2, -3, -7]);
  });
});

describe("wasm memory", () => {
  it("frees every tensor it allocates", () => {
    const before = threaded.memory();
    for (let repeat = 0; repeat < 1000; repeat++) {
      runKernel(
        threaded,
        "add",
        [
          { values: pattern(100, repeat), shape: [100], dtype: "float32" },
          { values: pattern(100, 1), shape: [100], dtype: "float32" },
        ],
        {
          outputShape: [100],
        },
      );
    }
    expect(threaded.memory()).toEqual(before);
    expect(threaded.heap.memory.buffer.byteLength).toBeLessThan(64 * 1024 * 1024);
  });
});

describe("wasm thread pool shutdown", () => {
  it("keeps computing on the calling thread after close()", async () => {
    const backend = new WasmBackend({ threads: 2 });
    await backend.initialize();
    expect(backend.threadCount).toBe(2);
    backend.close();
    backend.close();
    expect(backend.threadCount).toBe(1);
    const inputs: CpuTensor[] = [
      { values: pattern(3 * 70 * 90, 9), shape: [3, 70, 90], dtype: "float32" },
      { values: pattern(90 * 110, 10), shape: [1, 90, 110], dtype: "float32" },
    ];
    const attributes = { transposeA: false, transposeB: true };
    inputs[1] = { ...inputs[1]!, shape: [1, 110, 90] };
    expect(runKernel(backend, "matmul", inputs, attributes)).toEqual(
      runKernel(single, "matmul", inputs, attributes),
    );
  });
});

describe("conformance of wasm against js", () => {
  beforeAll(() => {
    if (!isBackendRegistered("wasm")) registerBackend(wasmBackendDefinition);
  });
  for (const testCase of conformanceCases) {
    it(testCase.name, async () => {
      const result = await runConformanceCase(testCase, "wasm");
      expect(result.failure).toBeUndefined();
      expect(result.passed).toBe(true);
    });
  }
});

describe("packed weight cache", () => {
  /** Runs matmul(a, b) `times` times on `backend` with the same b storage; returns each result. */
  function reuse(
    backend: WasmBackend,
    a: CpuTensor,
    b: CpuTensor,
    attributes: { transposeA: boolean; transposeB: boolean },
    times: number,
  ): StorageValues[] {
    const bInfo: TensorInfo = {
      handle: backend.upload(b.values.slice(), b.dtype),
      shape: b.shape,
      dtype: b.dtype,
    };
    const aInfo: TensorInfo = {
      handle: backend.upload(a.values.slice(), a.dtype),
      shape: a.shape,
      dtype: a.dtype,
    };
    const kernel = backend.kernels.matmul as (
      inputs: readonly TensorInfo[],
      attributes: object,
      backend: WasmBackend,
    ) => TensorInfo;
    const results: StorageValues[] = [];
    for (let time = 0; time < times; time++) {
      const output = kernel([aInfo, bInfo], attributes, backend);
      const size = output.shape.reduce((product, extent) => product * extent, 1);
      results.push(backend.read(output.handle, "float32", size).slice());
      backend.dispose(output.handle);
    }
    backend.dispose(aInfo.handle);
    backend.dispose(bInfo.handle);
    return results;
  }

  // Row-split (m large), column-split (n large), transposed, tall-skinny (n ≤ 16: A read in place), bfloat16
  // (transposed) and float16 (row-major: the grouped row-wise packing widens it).
  const cases: [string, number, number, number, boolean, "float32" | "bfloat16" | "float16"][] = [
    ["rows split", 300, 256, 520, true, "float32"],
    ["columns split", 40, 1100, 600, false, "float32"],
    ["tall-skinny", 200, 12, 6000, false, "float32"],
    ["bfloat16 weight", 70, 300, 260, true, "bfloat16"],
    ["float16 weight, row-major", 70, 300, 260, false, "float16"],
  ];
  for (const [label, m, n, k, transposeB, dtype] of cases) {
    it(`packs a reused B once and gives bit-identical products (${label})`, () => {
      for (const backend of [threaded, single]) {
        const before = backend.packedWeightCacheStatistics();
        const a: CpuTensor = { values: pattern(m * k, 3), shape: [1, m, k], dtype: "float32" };
        const values = pattern(k * n, 4);
        const b: CpuTensor = {
          values: dtype === "float32" ? values : narrowToHalf(values, dtype),
          shape: [1, transposeB ? n : k, transposeB ? k : n],
          dtype,
        };
        const attributes = { transposeA: false, transposeB };
        const results = reuse(backend, a, b, attributes, 3);
        const after = backend.packedWeightCacheStatistics();
        // First use packs per call, the second packs into the cache, the third hits it.
        expect(after.packed - before.packed).toBe(1);
        expect(after.hits - before.hits).toBe(1);
        expect(results[1]).toEqual(results[0]);
        expect(results[2]).toEqual(results[0]);
        expect(largestError(results[0]!, referenceKernel("matmul", [a, b], attributes))).toBeLessThan(1e-4);
        // Disposing the weight released its panels.
        expect(after.bytes).toBe(before.bytes);
        expect(backend.memory().cacheBytes).toBe(0);
      }
    });
  }

  it("stays under its bound (later weights are not cached) and can be turned off", async () => {
    const bounded = new WasmBackend({ threads: 1, packedWeightCacheBytes: 300 * 1024 });
    await bounded.initialize();
    const weight = (salt: number): CpuTensor => ({
      values: pattern(256 * 256, salt),
      shape: [1, 256, 256],
      dtype: "float32",
    });
    const a: CpuTensor = { values: pattern(64 * 256, 9), shape: [1, 64, 256], dtype: "float32" };
    const first: TensorInfo = {
      handle: bounded.upload(weight(1).values, "float32"),
      shape: [1, 256, 256],
      dtype: "float32",
    };
    const second: TensorInfo = {
      handle: bounded.upload(weight(2).values, "float32"),
      shape: [1, 256, 256],
      dtype: "float32",
    };
    const aInfo: TensorInfo = {
      handle: bounded.upload(a.values, "float32"),
      shape: a.shape,
      dtype: "float32",
    };
    const kernel = bounded.kernels.matmul as (
      inputs: readonly TensorInfo[],
      attributes: object,
      backend: WasmBackend,
    ) => TensorInfo;
    for (let round = 0; round < 3; round++) {
      for (const b of [first, second])
        bounded.dispose(kernel([aInfo, b], { transposeA: false, transposeB: true }, bounded).handle);
    }
    // Each weight's panels take ~256 KiB (256 columns rounded up to whole NR-wide panels): the first fits under
    // 300 KiB, the second does not.
    const panelBytes = Math.ceil(256 / gemmBlocking.nr) * gemmBlocking.nr * 256 * 4;
    expect(panelBytes).toBeLessThan(300 * 1024);
    expect(bounded.packedWeightCacheStatistics()).toMatchObject({
      entries: 1,
      bytes: panelBytes,
      skipped: 2,
    });
    bounded.clearPackedWeightCache();
    expect(bounded.packedWeightCacheStatistics().bytes).toBe(0);
    for (const info of [first, second, aInfo]) bounded.dispose(info.handle);
    const off = new WasmBackend({ threads: 1, packedWeightCacheBytes: 0 });
    await off.initialize();
    const results = reuse(off, a, weight(1), { transposeA: false, transposeB: true }, 3);
    expect(off.packedWeightCacheStatistics()).toMatchObject({ entries: 0, packed: 0, hits: 0 });
    expect(results[2]).toEqual(results[0]);
  });

  it("packs an uncached B split into bands of rows once per product: the single thread's bits, panels freed", async () => {
    const uncached = new WasmBackend({ threads: 2, packedWeightCacheBytes: 0 });
    await uncached.initialize();
    // 300 rows of C are 75 row tiles against 33 column tiles: the product is cut into bands of rows
    const a: CpuTensor = { values: pattern(300 * 520, 5), shape: [1, 300, 520], dtype: "float32" };
    for (const transposeB of [true, false]) {
      const b: CpuTensor = {
        values: pattern(520 * 520, 6),
        shape: [1, 520, 520],
        dtype: "float32",
      };
      const attributes = { transposeA: false, transposeB };
      const inUse = uncached.heap.bytesInUse;
      const packs = vi.spyOn(uncached, "packTransient");
      const releases = vi.spyOn(uncached, "releasePacked");
      const [two] = reuse(uncached, a, b, attributes, 1);
      expect(packs).toHaveBeenCalledTimes(1);
      expect(releases).toHaveBeenCalledWith(packs.mock.results[0]!.value);
      packs.mockRestore();
      releases.mockRestore();
      expect(uncached.heap.bytesInUse).toBe(inUse);
      const [one] = reuse(single, a, b, attributes, 1);
      expect(two).toEqual(one);
      expect(largestError(two!, referenceKernel("matmul", [a, b], attributes))).toBeLessThan(1e-4);
    }
    uncached.close();
  });
});

describe("matrix-vector kernels (m ≤ 4: B streamed, never packed)", () => {
  // Every m, both orientations, every storage type of B; n and k straddle the 4-row blocks, the 16-column
  // chunks and the 4-wide vectors, and 1100 columns split across threads.
  const sizes: [number, number][] = [
    [1, 1],
    [3, 7],
    [17, 5],
    [37, 130],
    [1100, 600],
  ];
  for (const m of [1, 2, 3, 4]) {
    for (const transposeB of [false, true]) {
      for (const dtype of ["float32", "bfloat16", "float16"] as const) {
        it(`m = ${m}${transposeB ? ", transposed B" : ""}, ${dtype} B`, () => {
          for (const [n, k] of sizes) {
            const values = pattern(k * n, 6);
            const inputs: CpuTensor[] = [
              { values: pattern(m * k, 5), shape: [1, m, k], dtype: "float32" },
              {
                values: dtype === "float32" ? values : narrowToHalf(values, dtype),
                shape: [1, transposeB ? n : k, transposeB ? k : n],
                dtype,
              },
            ];
            const attributes = { transposeA: false, transposeB };
            const expected = referenceKernel("matmul", inputs, attributes);
            const threadedResult = runKernel(threaded, "matmul", inputs, attributes);
            expect(largestError(threadedResult, expected)).toBeLessThan(1e-4);
            // Each column is computed by one thread in the same order: 1 and 2 threads agree bit for bit.
            expect(runKernel(single, "matmul", inputs, attributes)).toEqual(threadedResult);
          }
        });
      }
    }
  }

  it("handles batched and broadcast operands (attention scores and values while decoding)", () => {
    for (const [batchA, batchB, transposeB] of [
      [9, 9, true],
      [9, 9, false],
      [1, 5, true],
      [6, 1, false],
    ] as const) {
      const [m, k, n] = [1, 64, 37];
      const batch = Math.max(batchA, batchB);
      const inputs: CpuTensor[] = [
        { values: pattern(batchA * m * k, 7), shape: [batchA, m, k], dtype: "float32" },
        {
          values: pattern(batchB * k * n, 8),
          shape: [batchB, transposeB ? n : k, transposeB ? k : n],
          dtype: "float32",
        },
      ];
      const attributes = { transposeA: false, transposeB };
      const actual = runKernel(threaded, "matmul", inputs, attributes);
      expect(actual.length).toBe(batch * m * n);
      expect(largestError(actual, referenceKernel("matmul", inputs, attributes))).toBeLessThan(1e-5);
    }
  });
});

/** Index of the first element whose bits differ (NaNs of one pattern are equal), or −1. */
function firstDifference(actual: StorageValues, expected: StorageValues): number {
  if (actual.length !== expected.length) return 0;
  const bits = (values: StorageValues) =>
    values instanceof Uint16Array ? values : new Uint32Array(values.buffer, values.byteOffset, values.length);
  const left = bits(actual);
  const right = bits(expected);
  for (let index = 0; index < left.length; index++) if (left[index] !== right[index]) return index;
  return -1;
}

describe("fused and layout kernels at SmolLM2 layer size (rows split across threads)", () => {
  const f32 = (shape: number[], salt: number, low = -1, high = 1): CpuTensor => {
    const size = shape.reduce((product, extent) => product * extent, 1);
    const values = pattern(size, salt).map((value) => low + ((value + 1) / 2) * (high - low));
    return { values, shape, dtype: "float32" };
  };
  const int32 = (values: number[]): CpuTensor => ({
    values: Int32Array.from(values),
    shape: [values.length],
    dtype: "int32",
  });
  const labels = Array.from({ length: 64 }, (_, row) => (row % 9 === 0 ? -100 : (row * 7919) % 4096));
  // [name, kernel, inputs, attributes, tolerance |wasm − js| / (1 + |js|)]: exp/log are a few float32 ulp off the
  // float64 reference; row sums of 4096 terms in float32 lanes add ~1e-6.
  const cases: [string, KernelName, CpuTensor[], object, number][] = [
    [
      "cross-entropy rows [64, 4096]",
      "crossEntropyRows",
      [f32([64, 4096], 1, -12, 12), int32(labels)],
      { ignoreIndex: -100 },
      1e-5,
    ],
    [
      "cross-entropy gradient [64, 4096]",
      "crossEntropyGradient",
      [
        f32([64, 4096], 2, -12, 12),
        int32(labels),
        { values: Float32Array.of(1 / 57), shape: [], dtype: "float32" },
      ],
      { ignoreIndex: -100 },
      1e-6,
    ],
    [
      "causal attention softmax [9·128, 128], scale 1/8",
      "maskedSoftmax",
      [f32([9 * 128, 128], 3, -40, 40)],
      { scale: 0.125, queries: 128 },
      1e-5,
    ],
    [
      "softmax with an additive mask [300, 200]",
      "maskedSoftmax",
      [f32([300, 200], 4, -5, 5), f32([10, 200], 5, -3, 0)],
      { scale: 1, queries: 0 },
      1e-5,
    ],
    [
      "softmax gradient [1152, 128]",
      "softmaxGradient",
      [f32([1152, 128], 6, 0, 0.05), f32([1152, 128], 7)],
      { scale: 0.125 },
      1e-5,
    ],
    [
      "RMS-norm gradient [128, 576]",
      "rmsNormGradient",
      [f32([128, 576], 8, -3, 3), f32([576], 9, 0.5, 1.5), f32([128, 576], 10)],
      { epsilon: 1e-5 },
      1e-5,
    ],
    [
      "rotary embedding [36·32, 64]",
      "rotaryEmbedding",
      [f32([36, 32, 64], 11, -2, 2), f32([32, 64], 12), f32([32, 64], 13)],
      {},
      0,
    ],
    ["swiGlu [128, 1536]", "swiGlu", [f32([128, 1536], 14, -10, 10), f32([128, 1536], 15)], {}, 1e-6],
    [
      "swiGlu gate gradient",
      "swiGluGradient",
      [f32([64, 1536], 16, -10, 10), f32([64, 1536], 17), f32([64, 1536], 18)],
      { input: 0 },
      1e-6,
    ],
    [
      "swiGlu up gradient",
      "swiGluGradient",
      [f32([64, 1536], 19, -10, 10), f32([64, 1536], 20), f32([64, 1536], 21)],
      { input: 1 },
      1e-6,
    ],
    [
      "transpose [4, 32, 9, 64] to heads",
      "transpose",
      [f32([4, 32, 9, 64], 22)],
      { permutation: [0, 2, 1, 3] },
      0,
    ],
    [
      "transpose [3, 5, 7, 2, 6] (5 axes: js kernel on views)",
      "transpose",
      [f32([3, 5, 7, 2, 6], 23)],
      { permutation: [4, 2, 0, 3, 1] },
      0,
    ],
    [
      "slice [4, 32, 576] rows 1..31",
      "slice",
      [f32([4, 32, 576], 24)],
      { begin: [0, 1, 0], size: [4, 31, 576] },
      0,
    ],
    [
      "concat [512, 64] [512, 192] [512, 3]",
      "concat",
      [f32([512, 64], 25), f32([512, 192], 26), f32([512, 3], 27)],
      {},
      0,
    ],
    [
      "argmax over the last axis (ties: the first; a NaN wins)",
      "argmax",
      [
        {
          values: Float32Array.from([1, 3, 3, 0, -1, Number.NaN, 2, Number.NaN, 0, 0, -0, 5]),
          shape: [3, 4, 1],
          dtype: "float32",
        },
      ],
      {},
      0,
    ],
    ["argmax of 4 rows of 49,152 logits", "argmax", [f32([4, 49152, 1], 29, -20, 20)], {}, 0],
    [
      "gather rows of a bfloat16 table",
      "gather",
      [
        { values: narrowToHalf(pattern(1000 * 64, 28), "bfloat16"), shape: [1000, 64], dtype: "bfloat16" },
        int32([999, 0, 17, 17, 500]),
      ],
      {},
      0,
    ],
  ];
  for (const [name, kernel, inputs, attributes, tolerance] of cases) {
    it(name, () => {
      const expected = referenceKernel(kernel, inputs, attributes);
      const actual = runKernel(threaded, kernel, inputs, attributes);
      if (tolerance === 0) expect(firstDifference(actual, expected)).toBe(-1);
      else expect(largestError(actual, expected)).toBeLessThan(tolerance);
      // Rows (or elements) are split across threads without changing any result.
      expect(firstDifference(runKernel(single, kernel, inputs, attributes), actual)).toBe(-1);
    });
  }

  it("refuses a gather index outside the table with the typed error", () => {
    const table: CpuTensor = { values: pattern(12, 1), shape: [4, 3], dtype: "float32" };
    expect(() => runKernel(threaded, "gather", [table, int32([1, 4])], {})).toThrow(
      /gather index 4 at position 1 is outside the table's 4 rows/,
    );
  });
});

describe("elementwise maps split across threads", () => {
  const big = (shape: number[], salt: number): CpuTensor => ({
    values: pattern(
      shape.reduce((product, extent) => product * extent, 1),
      salt,
    ),
    shape,
    dtype: "float32",
  });
  // Same-shape, scalar and trailing-block operands (a bias row, an attention mask [queries, keys] under
  // [batch, heads, queries, keys]), and unary maps, each large enough to be split.
  const cases: [string, KernelName, CpuTensor[], object, number][] = [
    [
      "add same shape [256, 1536]",
      "add",
      [big([256, 1536], 1), big([256, 1536], 2)],
      { outputShape: [256, 1536] },
      0,
    ],
    ["mul by a scalar", "mul", [big([256, 1536], 3), big([1, 1], 4)], { outputShape: [256, 1536] }, 0],
    ["sub a bias row", "sub", [big([256, 1536], 5), big([1, 1536], 6)], { outputShape: [256, 1536] }, 0],
    [
      "add a mask block [64, 64] under [4, 9, 64, 64]",
      "add",
      [big([4, 9, 64, 64], 7), big([1, 1, 64, 64], 8)],
      { outputShape: [4, 9, 64, 64] },
      0,
    ],
    [
      "divide by a block",
      "div",
      [
        big([36, 64, 64], 9),
        { ...big([1, 64, 64], 10), values: pattern(4096, 10).map((value) => 1.5 + value) },
      ],
      { outputShape: [36, 64, 64] },
      3e-7,
    ],
    ["exp", "exp", [big([256, 1536], 11)], {}, 4e-6],
    ["silu", "silu", [big([256, 1536], 12)], {}, 4e-6],
  ];
  for (const [name, kernel, inputs, attributes, tolerance] of cases) {
    it(name, () => {
      const actual = runKernel(threaded, kernel, inputs, attributes);
      expect(largestError(actual, referenceKernel(kernel, inputs, attributes))).toBeLessThanOrEqual(
        tolerance,
      );
      expect(firstDifference(runKernel(single, kernel, inputs, attributes), actual)).toBe(-1);
    });
  }
});
