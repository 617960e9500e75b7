/**
 * The browser side of `gpu-browser.test.ts`: registers the gpu backend, and exposes the suites on
 * `window.peftjsGpuSuite` for the Node side to call through playwright.
 */
import {
  add,
  backendStatus,
  clamp,
  div,
  isBackendRegistered,
  listBackends,
  matmul,
  memory,
  mul,
  registerBackend,
  rmsNorm,
  setBackend,
  silu,
  softmax,
  sub,
  type TensorInfo,
  tensor,
  tidy,
  transpose,
} from "@peftjs/tensor";
import {
  type ConformanceCase,
  conformanceCases,
  runConformanceCase,
  runConformanceSuite,
} from "@peftjs/tensor/testing";
import { createGpuBackend, gpuBackendDefinition } from "../../../src/backends/gpu/index.js";
import { deviceCounters, installDeviceCounters } from "./device-counters.js";
import { createWebGpuConformanceRunner } from "./webgpu-replay.js";

installDeviceCounters();

/** One case's outcome, as returned to Node. */
export interface SuiteCaseResult {
  readonly name: string;
  readonly op: string;
  readonly passed: boolean;
  readonly failure?: string;
}

/** A suite run, as returned to Node. */
export interface SuiteReport {
  /** gpu.js mode the backend ran in. */
  readonly mode: string | undefined;
  /** Why the backend is (un)available. */
  readonly reason: string | undefined;
  readonly results: readonly SuiteCaseResult[];
  /** Kernel calls that fell back to js, by "backend/kernel" (must stay empty). */
  readonly fallbacks: Readonly<Record<string, number>>;
  readonly milliseconds: number;
}

/** A memory run, as returned to Node. */
export interface MemoryReport {
  readonly mode: string | undefined;
  readonly iterations: number;
  /** Device counts after a warm-up of 10 iterations and after all of them. */
  readonly afterWarmUp: { liveTextures: number; liveBuffers: number; handles: number; tensors: number };
  readonly afterAll: { liveTextures: number; liveBuffers: number; handles: number; tensors: number };
  /** A value of the last iteration, to show the loop computed something. */
  readonly sample: number;
}

/**
 * Cases for paths of the gpu kernels that the shared table does not reach, run the same way (against `js`):
 * integer division with both signs (truncation toward zero, corrected on the device) and clamp with an
 * infinite bound (switched off by a flag instead of an infinite uniform).
 */
export const gpuExtraCases: readonly ConformanceCase[] = [
  {
    name: "gpu extra: int32 div with mixed signs truncates toward zero",
    op: "div",
    tolerance: { absolute: 0, relative: 0 },
    run: ({ integers }) => {
      const dividend = sub(integers([6, 7], 4001), 2000);
      // |divisor| in 1..29, sign ±1 from a coin: (2·{0, 1} − 1).
      const divisor = mul(add(integers([6, 7], 29), 1), sub(mul(integers([6, 7], 2), 2), 1));
      return div(dividend, divisor);
    },
  },
  {
    name: "gpu extra: clamp with an infinite lower bound",
    op: "clamp",
    tolerance: { absolute: 0, relative: 0 },
    run: ({ uniform }) => clamp(uniform([5, 9], -1e30, 1e30), Number.NEGATIVE_INFINITY, 0.25),
  },
];

/** Which cases to run: names containing any `exclude` entry are left out (see gpu-browser.test.ts for why). */
export interface CaseSelection {
  readonly exclude?: readonly string[];
  /** When set, only names containing one of these. */
  readonly include?: readonly string[];
}

function selects(selection: CaseSelection, name: string): boolean {
  if (selection.include !== undefined && !selection.include.some((part) => name.includes(part))) return false;
  return !(selection.exclude ?? []).some((part) => name.includes(part));
}

function pattern(size: number, salt: number): number[] {
  return Array.from({ length: size }, (_, index) => ((index * 31 + salt * 7) % 19) / 9.5 - 1);
}

/**
 * The shared table through the public API with a gpu backend in a GL mode: gpu.js's automatic choice (WebGL2
 * in Chromium), or `mode` when given (`"webgl"` for WebGL 1). It is registered under its own name with
 * `maxMatmulWorkPerDispatch` bounding each matmul dispatch, so that a small value sends every product through
 * the tiled path. The built-in "gpu" registration is exercised by the memory and long-side checks.
 */
async function glSuite(
  selection: CaseSelection = {},
  mode?: "webgl",
  maxMatmulWorkPerDispatch = 4096,
): Promise<SuiteReport> {
  const name = `gpu-${mode ?? "auto"}-tiled`;
  if (!isBackendRegistered(name)) {
    registerBackend(
      gpuBackendDefinition({ name, maxMatmulWorkPerDispatch, ...(mode === undefined ? {} : { mode }) }),
    );
  }
  const started = performance.now();
  await setBackend(name);
  const info = listBackends().find((backend) => backend.name === name);
  const results = await runConformanceSuite(name, (testCase) => selects(selection, testCase.name));
  for (const testCase of gpuExtraCases) results.push(await runConformanceCase(testCase, name));
  await setBackend("js");
  return {
    mode: info?.availability?.details?.mode as string | undefined,
    reason: info?.availability?.reason,
    results,
    fallbacks: backendStatus().fallbacks,
    milliseconds: performance.now() - started,
  };
}

/** The shared table on the gpu backend in gpu.js's WebGPU mode, through the replay bridge of webgpu-replay.ts. */
async function webGpuSuite(selection: CaseSelection = {}): Promise<SuiteReport> {
  const started = performance.now();
  const device = createGpuBackend({ mode: "webgpu", name: "gpu-webgpu" });
  const availability = await device.initialize();
  if (!availability.available) {
    return { mode: undefined, reason: availability.reason, results: [], fallbacks: {}, milliseconds: 0 };
  }
  const run = await createWebGpuConformanceRunner("gpu-webgpu-replay", device);
  const results = [];
  for (const testCase of [...conformanceCases, ...gpuExtraCases]) {
    if (selects(selection, testCase.name)) results.push(await run(testCase));
  }
  await device.destroy();
  return {
    mode: device.mode ?? (availability.details?.mode as string | undefined),
    reason: availability.reason,
    results,
    fallbacks: backendStatus().fallbacks,
    milliseconds: performance.now() - started,
  };
}

/** A long-side check, as returned to Node. */
export interface WideTensorReport {
  readonly maxTextureSize: number;
  /** The long side used: more than `maxTextureSize`. */
  readonly side: number;
  /** Largest |gpu − js| / (1 + |js|) over softmax(2x), transpose(x) and x·xᵀ. */
  readonly worstError: number;
}

/**
 * Tensors whose long side exceeds MAX_TEXTURE_SIZE: `[3, side]`, softmax over the long axis, its transpose and
 * the `[3, 3]` product of depth `side`, against `js`.
 */
async function wideTensorCheck(): Promise<WideTensorReport> {
  const context = document.createElement("canvas").getContext("webgl2");
  const maxTextureSize = context === null ? 0 : (context.getParameter(context.MAX_TEXTURE_SIZE) as number);
  const side = maxTextureSize + 1007;
  const values = pattern(3 * side, 5);
  const compute = () =>
    tidy(() => {
      const x = tensor(values, [3, side]);
      return [softmax(add(x, x)), transpose(x), matmul(x, x, { transposeB: true })].map((t) =>
        Array.from(t.dataSync()),
      );
    });
  await setBackend("js");
  const expected = compute();
  await setBackend("gpu");
  const actual = compute();
  await setBackend("js");
  let worstError = 0;
  expected.forEach((want, output) => {
    want.forEach((value, index) => {
      worstError = Math.max(worstError, Math.abs(actual[output]![index]! - value) / (1 + Math.abs(value)));
    });
  });
  return { maxTextureSize, side, worstError };
}

function counts(handles: number) {
  return { ...deviceCounters(), handles, tensors: memory().tensors };
}

/** WebGL2: 1000 × tidy(rmsNorm(silu(x·w + b))) through the public API; no texture may survive an iteration. */
async function webGl2Memory(iterations: number): Promise<MemoryReport> {
  await setBackend("gpu");
  const x = tensor(pattern(4 * 16, 1), [4, 16]);
  const w = tensor(pattern(16 * 8, 2), [16, 8]);
  const b = tensor(pattern(8, 3), [8]);
  const g = tensor(pattern(8, 4), [8]);
  const gpuHandles = () => memory().backends.gpu?.handles ?? 0;
  let sample = 0;
  let afterWarmUp = counts(gpuHandles());
  for (let iteration = 0; iteration < iterations; iteration++) {
    // Read back in the warm-up too, so that read-back resources exist before the first count.
    const reads = iteration === 9 || iteration === iterations - 1;
    tidy(() => {
      const y = softmax(rmsNorm(silu(add(matmul(x, w), b)), g, 1e-6));
      if (reads) sample = y.dataSync()[0]!;
    });
    if (iteration === 9) afterWarmUp = counts(gpuHandles());
  }
  const afterAll = counts(gpuHandles());
  for (const t of [x, w, b, g]) t.dispose();
  const info = listBackends().find((backend) => backend.name === "gpu");
  await setBackend("js");
  return {
    mode: info?.availability?.details?.mode as string | undefined,
    iterations,
    afterWarmUp,
    afterAll,
    sample,
  };
}

/**
 * WebGPU: the same chain, kernel by kernel on the backend (WebGPU cannot be the engine's active backend, see
 * webgpu-replay.ts); every intermediate is disposed as `tidy` would, and no buffer may survive an iteration.
 */
async function webGpuMemory(iterations: number): Promise<MemoryReport> {
  const device = createGpuBackend({ mode: "webgpu", name: "gpu-webgpu-memory" });
  const availability = await device.initialize();
  if (!availability.available) throw new Error(availability.reason);
  const upload = (values: number[], shape: number[]): TensorInfo => ({
    handle: device.upload(Float32Array.from(values), "float32"),
    shape,
    dtype: "float32",
  });
  const kernels = device.kernels as Required<typeof device.kernels>;
  const x = upload(pattern(4 * 16, 1), [1, 4, 16]);
  const w = upload(pattern(16 * 8, 2), [1, 16, 8]);
  const b = upload(pattern(8, 3), [1, 8]);
  const g = upload(pattern(8, 4), [8]);
  let afterWarmUp = { ...deviceCounters(), handles: device.memory().handles, tensors: 0 };
  let sample = 0;
  for (let iteration = 0; iteration < iterations; iteration++) {
    const product = kernels.matmul([x, w], { transposeA: false, transposeB: false }, device);
    const flat = { ...product, shape: [4, 8] };
    const shifted = kernels.add([flat, b], { outputShape: [4, 8] }, device);
    const activated = kernels.silu([shifted], {}, device);
    const normalized = kernels.rmsNorm([activated, g], { epsilon: 1e-6 }, device);
    const probabilities = kernels.softmax([normalized], {}, device);
    // Read back in the warm-up too: gpu.js pools a staging buffer per kernel for read-backs.
    if (iteration === 9 || iteration === iterations - 1)
      sample = (await device.readAsync(probabilities.handle, "float32"))[0]!;
    for (const info of [product, shifted, activated, normalized, probabilities]) device.dispose(info.handle);
    if (iteration === 9) {
      await device.flush();
      afterWarmUp = { ...deviceCounters(), handles: device.memory().handles, tensors: 0 };
    }
  }
  await device.flush();
  const afterAll = { ...deviceCounters(), handles: device.memory().handles, tensors: 0 };
  for (const info of [x, w, b, g]) device.dispose(info.handle);
  await device.destroy();
  return { mode: device.mode ?? "webgpu", iterations, afterWarmUp, afterAll, sample };
}

const suite = { glSuite, webGpuSuite, webGl2Memory, webGpuMemory, wideTensorCheck };

/** What the page exposes to the test. */
export type GpuSuite = typeof suite;

(globalThis as { peftjsGpuSuite?: GpuSuite }).peftjsGpuSuite = suite;
