/**
 * The gpu backend, for real, in headless Chromium (Debian's `chromium`, driven by playwright-core): the shared
 * conformance table on gpu.js's WebGL2 mode, its WebGL 1 mode (same page) and its WebGPU mode (the built-in
 * `webgpu` backend, selected with `setBackend` and read through the engine's asynchronous path, in a second
 * browser with the WebGPU flags), all SwiftShader, i.e. float32 on the CPU, each compared with the `js` reference
 * at the table's own tolerances; the gradient-check table on `webgpu` (autograd through `await`); a leak test of
 * 1000 chained iterations for WebGL2 and WebGPU; and tensors whose long side exceeds MAX_TEXTURE_SIZE. The page
 * bundles the package's built `dist` (run `pnpm build` first).
 *
 * Left out of the GL runs: the two 1024×1024×1024 products. gpu.js's GL kernels read every operand through a
 * texture fetch with integer index arithmetic, which SwiftShader executes at roughly 30–100 MFLOP/s here, so
 * each of those products takes 20–70 s on this machine. The same products (same kernel source, with the
 * default 4-tile split) run in the WebGPU run, and the GL runs send every other product through the tiled path
 * by bounding a dispatch to 4096 multiply-adds.
 */

import {
  type StaticServer,
  serveDirectory,
  skipWithoutChromium,
  withChromiumPage,
} from "@peftjs/browser-testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MemoryReport, SuiteReport, WebGpuAutogradReport, WideTensorReport } from "./gpu-page/main.js";
import { buildGpuPage } from "./gpu-page-fixture.js";

const skipBrowser = skipWithoutChromium("gpu-browser.test.ts");

const iterations = 1000;
const webGl2Exclusions = ["matmul [1024, 1024] · [1024, 1024]"];

type SuiteMethod =
  | "glSuite"
  | "webGpuSuite"
  | "webGpuAutograd"
  | "webGl2Memory"
  | "webGpuMemory"
  | "wideTensorCheck";

interface ModeRun {
  readonly suite: SuiteReport;
  readonly memory: MemoryReport;
  /** Only in the WebGL2 run. */
  readonly wide?: WideTensorReport;
  /** Only in the WebGL2 run: the same table on gpu.js's WebGL 1 mode, in the same page. */
  readonly webGl1?: SuiteReport;
  /** Only in the WebGPU run: the gradient-check table on `webgpu`. */
  readonly autograd?: WebGpuAutogradReport;
  readonly consoleErrors: readonly string[];
}

/** Opens the page in a fresh Chromium (with the WebGPU flags when asked) and runs the suite and the leak test. */
async function runInChromium(server: StaticServer, webGpu: boolean): Promise<ModeRun> {
  return withChromiumPage({ url: server.url, webGpu }, async ({ page, consoleMessages }) => {
    await page.waitForFunction(
      () => (globalThis as { peftjsGpuSuite?: unknown }).peftjsGpuSuite !== undefined,
    );
    const call = <T>(method: SuiteMethod, ...parameters: unknown[]): Promise<T> =>
      page.evaluate(
        ([name, values]) => {
          const suite = (
            globalThis as unknown as {
              peftjsGpuSuite: Record<string, (...values: unknown[]) => Promise<unknown>>;
            }
          ).peftjsGpuSuite;
          return suite[name]!(...values) as Promise<T>;
        },
        [method, parameters] as const,
      );
    const suite = webGpu
      ? await call<SuiteReport>("webGpuSuite", {})
      : await call<SuiteReport>("glSuite", { exclude: webGl2Exclusions }, undefined, 4096);
    const memory = await call<MemoryReport>(webGpu ? "webGpuMemory" : "webGl2Memory", iterations);
    if (webGpu) {
      const autograd = await call<WebGpuAutogradReport>("webGpuAutograd");
      return { suite, memory, autograd, consoleErrors: [...consoleMessages] };
    }
    const wide = await call<WideTensorReport>("wideTensorCheck");
    const webGl1 = await call<SuiteReport>("glSuite", { exclude: webGl2Exclusions }, "webgl", 4096);
    return { suite, memory, wide, webGl1, consoleErrors: [...consoleMessages] };
  });
}

/** Cases of the page's own `gpuExtraCases` (paths the shared table does not reach), run after the table. */
const extraCasePrefix = "gpu extra:";
const extraCaseCount = 2;

function failures(report: SuiteReport): string[] {
  return report.results
    .filter((result) => !result.passed)
    .map((result) => `${result.name}: ${result.failure}`);
}

describe.skipIf(skipBrowser)("gpu backend in headless Chromium", () => {
  let server: StaticServer;
  let caseNames: string[] = [];
  const runs: { webgl2?: ModeRun; webgpu?: ModeRun } = {};

  beforeAll(async () => {
    server = await serveDirectory(await buildGpuPage());
    // Both browsers run one after the other: SwiftShader is CPU-bound and the machine has few cores.
    runs.webgl2 = await runInChromium(server, false);
    runs.webgpu = await runInChromium(server, true);
    const { conformanceCases } = await import("../../src/testing/index.js");
    caseNames = conformanceCases.map((testCase) => testCase.name);
    // Two full tables on SwiftShader (software GPU) are CPU-bound: a few minutes on an idle two-core machine,
    // over four under a load average of ~19 (seen). The bound is generous so that load alone cannot fail it.
  }, 900_000);

  afterAll(async () => {
    await server?.close();
  });

  it("computes on tensors whose long side exceeds MAX_TEXTURE_SIZE (WebGL2)", () => {
    const wide = runs.webgl2!.wide!;
    expect(wide.maxTextureSize).toBeGreaterThan(0);
    expect(wide.side).toBeGreaterThan(wide.maxTextureSize);
    // The product has depth side ≈ 9200, accumulated in float32 on the GPU: the rounding bound is
    // side·ε·Σ|aᵢbᵢ| ≈ 9200 × 6e-8 ≈ 5.5e-4 relative; a wrongly folded texture gives O(1) errors.
    expect(wide.worstError).toBeLessThan(1e-3);
  });

  it("trains on webgpu through the asynchronous path: the gradient-check table, read with await", async () => {
    const autograd = runs.webgpu!.autograd!;
    const { gradientCheckCases } = await import("../../src/testing/index.js");
    expect(autograd.results.length).toBe(gradientCheckCases.length);
    console.info(
      `webgpu gradient checks: ${autograd.results.length} cases in ${Math.round(autograd.milliseconds)} ms`,
    );
    for (const result of autograd.results) {
      // The scatter-type gradients (embedding rows, max, clamp) are built on the host from read-back values,
      // which webgpu cannot do synchronously: they refuse with the typed error. Every other rule runs on the
      // device (the cross-entropy gradient included: it is a fused kernel).
      if (/^(gather|max|clamp)/.test(result.name)) expect(result.failure).toMatch(/SynchronousReadError/);
      else
        expect({ name: result.name, failure: result.failure }).toEqual({
          name: result.name,
          failure: undefined,
        });
    }
    expect(autograd.synchronousRead?.name).toBe("SynchronousReadError");
    expect(autograd.synchronousRead?.message).toContain("await tensor.data()");
    expect(autograd.auto).not.toBe("webgpu");
  });

  it('matches js on the same table in gpu.js\'s WebGL 1 mode (mode "webgl")', () => {
    const webGl1 = runs.webgl2!.webGl1!;
    expect(webGl1.mode).toBe("webgl");
    expect(webGl1.results.length).toBe(
      caseNames.filter((name) => !webGl2Exclusions.some((part) => name.includes(part))).length +
        extraCaseCount,
    );
    expect(failures(webGl1)).toEqual([]);
  });

  describe.each([
    {
      mode: "webgl2" as const,
      expectedCases: () =>
        caseNames.filter((name) => !webGl2Exclusions.some((part) => name.includes(part))).length,
    },
    { mode: "webgpu" as const, expectedCases: () => caseNames.length },
  ])("gpu.js mode $mode", ({ mode, expectedCases }) => {
    it("runs in that mode, never a software fallback", () => {
      const run = runs[mode]!;
      expect(run.suite.mode).toBe(mode);
      expect(run.suite.reason).toContain(`mode "${mode}"`);
      // The reason names the renderer (SwiftShader here, flagged as a software renderer): shown in the log.
      console.info(`gpu backend, ${mode}: ${run.suite.reason}`);
      expect(run.memory.mode).toBe(mode);
    });

    it("matches js on the shared conformance table at the table's tolerances", () => {
      const run = runs[mode]!;
      expect(run.suite.results.length).toBe(expectedCases() + extraCaseCount);
      expect(run.suite.results.filter((result) => result.name.startsWith(extraCasePrefix))).toHaveLength(
        extraCaseCount,
      );
      expect(failures(run.suite)).toEqual([]);
      // Every kernel ran on the gpu backend: no call fell back to js.
      expect(
        Object.keys(run.suite.fallbacks).filter((key) => key.startsWith("gpu") || key.startsWith("webgpu")),
      ).toEqual([]);
    });

    it(`keeps device memory flat over ${iterations} chained iterations`, () => {
      const { afterWarmUp, afterAll: final, sample } = runs[mode]!.memory;
      console.info(
        `gpu backend, ${mode}: after 10 iterations ${JSON.stringify(afterWarmUp)}, after ${iterations} ${JSON.stringify(final)}`,
      );
      expect(Number.isFinite(sample)).toBe(true);
      // Live textures (WebGL) or buffers (WebGPU) counted at the API, after 10 and after 1000 iterations.
      expect(final.liveTextures).toBe(afterWarmUp.liveTextures);
      expect(final.liveBuffers).toBe(afterWarmUp.liveBuffers);
      expect(final.handles).toBe(afterWarmUp.handles);
      expect(final.tensors).toBe(afterWarmUp.tensors);
    });

    it("logs no console errors", () => {
      expect(runs[mode]!.consoleErrors).toEqual([]);
    });
  });
});
