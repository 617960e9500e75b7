/**
 * The browser side of `gpu-browser.test.ts`: registers the gpu backend, and exposes the suites on
 * `window.peftjsGpuSuite` for the Node side to call through playwright.
 */
import {
  add,
  backendStatus,
  clamp,
  div,
  getBackend,
  isBackendRegistered,
  listBackends,
  matmul,
  memory,
  mul,
  probeBackends,
  registerBackend,
  rmsNorm,
  setBackend,
  silu,
  softmax,
  sub,
  tensor,
  tidy,
  transpose,
} from "@peftjs/tensor";
import {
  type ConformanceCase,
  type GradientCheckResult,
  runConformanceCase,
  runConformanceSuite,
  runGradientCheckSuite,
} from "@peftjs/tensor/testing";
import { gpuBackendDefinition } from "../../../src/backends/gpu/index.js";
import { deviceCounters, installDeviceCounters } from "./device-counters.js";

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

/**
 * The shared table on the built-in `webgpu` backend (gpu.js's WebGPU mode), selected with `setBackend` and read
 * through the engine's asynchronous path (`await tensor.data()`): the same runner as the GL modes.
 */
async function webGpuSuite(selection: CaseSelection = {}): Promise<SuiteReport> {
  const started = performance.now();
  await probeBackends();
  const info = listBackends().find((backend) => backend.name === "webgpu");
  if (info?.availability?.available !== true) {
    return {
      mode: undefined,
      reason: info?.availability?.reason,
      results: [],
      fallbacks: {},
      milliseconds: 0,
    };
  }
  const results = await runConformanceSuite("webgpu", (testCase) => selects(selection, testCase.name));
  for (const testCase of gpuExtraCases) results.push(await runConformanceCase(testCase, "webgpu"));
  return {
    mode: info.availability.details?.mode as string | undefined,
    reason: info.availability.reason,
    results,
    fallbacks: backendStatus().fallbacks,
    milliseconds: performance.now() - started,
  };
}

/** The gradient-check table and a synchronous-read probe on `webgpu`, as returned to Node. */
export interface WebGpuAutogradReport {
  readonly results: readonly GradientCheckResult[];
  /** What `dataSync()` threw on a webgpu tensor (the typed error's name and message). */
  readonly synchronousRead: { readonly name: string; readonly message: string } | undefined;
  /** The active backend after `setBackend("auto")`: never webgpu, whose reads are asynchronous. */
  readonly auto: string;
  readonly milliseconds: number;
}

/**
 * Autograd on `webgpu` through the asynchronous path: the shared gradient-check table (every rule against float64
 * finite differences, read with `await`), plus what a synchronous read and `setBackend("auto")` do there.
 */
async function webGpuAutograd(): Promise<WebGpuAutogradReport> {
  const started = performance.now();
  const results = await runGradientCheckSuite("webgpu");
  await setBackend("webgpu");
  const probe = tensor([1, 2, 3], [3]);
  let synchronousRead: WebGpuAutogradReport["synchronousRead"];
  try {
    probe.dataSync();
  } catch (error) {
    synchronousRead = { name: (error as Error).name, message: (error as Error).message };
  }
  probe.dispose();
  await setBackend("auto");
  const auto = getBackend();
  await setBackend("js");
  return { results, synchronousRead, auto, milliseconds: performance.now() - started };
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
 * WebGPU: the same chain through the public API on the built-in `webgpu` backend, read back with `await`; no
 * buffer may survive an iteration.
 */
async function webGpuMemory(iterations: number): Promise<MemoryReport> {
  await setBackend("webgpu");
  const x = tensor(pattern(4 * 16, 1), [4, 16]);
  const w = tensor(pattern(16 * 8, 2), [16, 8]);
  const b = tensor(pattern(8, 3), [8]);
  const g = tensor(pattern(8, 4), [8]);
  const handles = () => memory().backends.webgpu?.handles ?? 0;
  let sample = 0;
  let afterWarmUp = counts(handles());
  for (let iteration = 0; iteration < iterations; iteration++) {
    const y = tidy(() => softmax(rmsNorm(silu(add(matmul(x, w), b)), g, 1e-6)));
    // Read back in the warm-up too: gpu.js pools a staging buffer per kernel for read-backs.
    if (iteration === 9 || iteration === iterations - 1) sample = (await y.data())[0]!;
    y.dispose();
    if (iteration === 9) {
      await flushWebGpu();
      afterWarmUp = counts(handles());
    }
  }
  await flushWebGpu();
  const afterAll = counts(handles());
  for (const t of [x, w, b, g]) t.dispose();
  const info = listBackends().find((backend) => backend.name === "webgpu");
  await setBackend("js");
  return {
    mode: info?.availability?.details?.mode as string | undefined,
    iterations,
    afterWarmUp,
    afterAll,
    sample,
  };
}

/** Waits until the webgpu backend has submitted every queued kernel and release (so buffer counts are final). */
async function flushWebGpu(): Promise<void> {
  const probe = tensor([0], [1]);
  await probe.data();
  probe.dispose();
}

const suite = { glSuite, webGpuSuite, webGpuAutograd, webGl2Memory, webGpuMemory, wideTensorCheck };

/** What the page exposes to the test. */
export type GpuSuite = typeof suite;

(globalThis as { peftjsGpuSuite?: GpuSuite }).peftjsGpuSuite = suite;
