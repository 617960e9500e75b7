/**
 * The browser side of `autograd-browser.test.ts`: replays the shared gradient-check table of
 * `@peftjs/tensor/testing` on the built-in `gpu` backend (gpu.js picks WebGL2 in Chromium; WebGPU is the
 * separate `webgpu` backend, checked in gpu-browser.test.ts) and exposes the run on `window.peftjsAutogradSuite`
 * for the Node side to call through playwright.
 */
import { backendStatus, getBackend, listBackends, probeBackends, setBackend } from "@peftjs/tensor";
import {
  type BinaryGradientOp,
  binaryGradientCase,
  type GradientCheckResult,
  runGradientCheck,
  runGradientCheckSuite,
} from "@peftjs/tensor/testing";

/** A run of the table, as returned to Node. */
export interface AutogradSuiteReport {
  /** The gpu.js mode the backend ran in (`undefined` when it was unavailable). */
  readonly mode: string | undefined;
  /** Why the backend is (un)available: names the renderer. */
  readonly reason: string | undefined;
  /** True when the renderer is a software rasteriser (SwiftShader here). */
  readonly softwareRenderer: boolean | undefined;
  /** One result per table case, in table order (empty when the backend was unavailable). */
  readonly results: readonly GradientCheckResult[];
  /** Kernel calls that fell back to js, by "backend/kernel". */
  readonly fallbacks: Readonly<Record<string, number>>;
  readonly milliseconds: number;
}

/** Runs every gradient check on `backend` (default `"gpu"`). */
async function run(backend = "gpu"): Promise<AutogradSuiteReport> {
  const started = performance.now();
  await probeBackends();
  const availability = listBackends().find((info) => info.name === backend)?.availability;
  const results = availability?.available === true ? await runGradientCheckSuite(backend) : [];
  return {
    mode: availability?.details?.mode as string | undefined,
    reason: availability?.reason,
    softwareRenderer: availability?.details?.softwareRenderer as boolean | undefined,
    results,
    fallbacks: backendStatus().fallbacks,
    milliseconds: performance.now() - started,
  };
}

/** One broadcasting binary case: the op and its operand shapes (drawn by fast-check on the Node side). */
export interface BinaryShapePair {
  readonly op: BinaryGradientOp;
  readonly aShape: readonly number[];
  readonly bShape: readonly number[];
}

/** Runs `binaryGradientCase` for each pair on `backend` (default `"gpu"`), inputs seeded with 7 as in Node. */
async function runBinary(pairs: readonly BinaryShapePair[], backend = "gpu"): Promise<GradientCheckResult[]> {
  const previous = getBackend();
  await setBackend(backend);
  try {
    return pairs.map(({ op, aShape, bShape }) => runGradientCheck(binaryGradientCase(op, aShape, bShape), 7));
  } finally {
    await setBackend(previous);
  }
}

const suite = { run, runBinary };

/** What the page exposes to the test. */
export type AutogradSuite = typeof suite;

(globalThis as { peftjsAutogradSuite?: AutogradSuite }).peftjsAutogradSuite = suite;
