/**
 * Gradient checks on the gpu backend, for real, in headless Chromium (Debian's `chromium`, driven by
 * playwright-core): the shared table of `@peftjs/tensor/testing` (`gradientCheckCases`, the same cases
 * `test/autograd-gradient-check.test.ts` replays on `js` and `wasm` in Node) runs on the built-in `gpu` backend
 * in gpu.js's WebGL2 mode on SwiftShader, i.e. float32 on the CPU. Every case is checked at its own tolerance
 * for backend "gpu" (the table states and justifies any that differ from the default), and the scatter-type
 * gradients that read values back synchronously (gather, max, clamp, crossEntropy) run there too. The page
 * bundles the package's built `dist` (run `pnpm build` first).
 *
 * WebGPU runs the same table through the asynchronous read path in `gpu-browser.test.ts` (the browser there
 * has the WebGPU flags).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  buildPage,
  type StaticServer,
  serveDirectory,
  skipWithoutChromium,
  withChromiumPage,
} from "@peftjs/browser-testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GradientCheckResult, gradientCheckCases } from "../../src/testing/index.js";
import type { AutogradSuite, AutogradSuiteReport, BinaryShapePair } from "./autograd-page/main.js";

const skipBrowser = skipWithoutChromium("autograd-browser.test.ts");

const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Bundles `autograd-page/` against the built `dist`: the published entry points, gpu.js's browser bundle. */
async function buildAutogradPage(): Promise<string> {
  const distIndex = `${packageRoot}dist/index.js`;
  if (!existsSync(distIndex))
    throw new Error(`${distIndex} is missing: run \`pnpm build\` in packages/tensor first`);
  return buildPage({
    root: fileURLToPath(new URL("./autograd-page/", import.meta.url)),
    alias: {
      "@peftjs/tensor/testing": `${packageRoot}dist/testing.js`,
      "@peftjs/tensor": `${packageRoot}dist/index.js`,
    },
  });
}

/**
 * Random broadcasting shape pairs for the binary ops, drawn here as in the Node test's fast-check property (a
 * result shape of rank ≤ 3; each operand drops some leading axes and sets some others to 1) and replayed in the
 * page without shrinking: a failure names the pair.
 */
function sampleBinaryShapePairs(count: number): BinaryShapePair[] {
  const operand = (shape: readonly number[]) =>
    fc
      .tuple(
        fc.integer({ min: 0, max: shape.length }),
        fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      )
      .map(([dropped, ones]) =>
        shape.slice(dropped).map((extent, axis) => (ones[axis + dropped] ? 1 : extent)),
      );
  const pair = fc
    .array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 })
    .chain((shape) => fc.tuple(operand(shape), operand(shape)));
  const op = fc.constantFrom("add", "sub", "mul", "div") as fc.Arbitrary<BinaryShapePair["op"]>;
  return fc
    .sample(fc.tuple(pair, op), { numRuns: count, seed: 20261128 })
    .map(([[aShape, bShape], name]) => ({ op: name, aShape, bShape }));
}

const binaryPairs = sampleBinaryShapePairs(40);

describe.skipIf(skipBrowser)("gradient checks on the gpu backend in headless Chromium (WebGL2)", () => {
  let server: StaticServer;
  let report: AutogradSuiteReport;
  let binaryResults: GradientCheckResult[] = [];
  let consoleErrors: readonly string[] = [];

  beforeAll(async () => {
    server = await serveDirectory(await buildAutogradPage());
    ({ report, binaryResults, consoleErrors } = await withChromiumPage(
      { url: server.url },
      async ({ page, consoleMessages }) => {
        await page.waitForFunction(
          () => (globalThis as { peftjsAutogradSuite?: unknown }).peftjsAutogradSuite !== undefined,
        );
        const tableReport = await page.evaluate(() =>
          (globalThis as unknown as { peftjsAutogradSuite: AutogradSuite }).peftjsAutogradSuite.run(),
        );
        const pairResults = await page.evaluate(
          (pairs) =>
            (globalThis as unknown as { peftjsAutogradSuite: AutogradSuite }).peftjsAutogradSuite.runBinary(
              pairs,
            ),
          binaryPairs,
        );
        return { report: tableReport, binaryResults: pairResults, consoleErrors: [...consoleMessages] };
      },
    ));
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  it("runs on gpu.js's WebGL2 mode, never a software fallback", () => {
    expect(report.mode).toBe("webgl2");
    // The reason names the renderer (SwiftShader here, flagged as a software renderer): shown in the log.
    console.info(`gpu backend: ${report.reason}`);
    expect(report.reason).toContain('mode "webgl2"');
  });

  it("passes every case of the shared table at the case's tolerance for gpu", () => {
    expect(report.results.map((result) => result.name)).toEqual(
      gradientCheckCases.map((testCase) => testCase.name),
    );
    expect(report.results.every((result) => result.backend === "gpu")).toBe(true);
    const worst = (key: "forwardError" | "gradientError") =>
      Math.max(...report.results.map((result) => result[key]));
    console.info(
      `gradient checks on gpu (webgl2): ${report.results.length} table cases in ${Math.round(report.milliseconds)} ms, worst forward error ${worst("forwardError")}, worst gradient error ${worst("gradientError")} (relative)`,
    );
    expect(
      report.results.filter((result) => !result.passed).map((result) => `${result.name}: ${result.failure}`),
    ).toEqual([]);
    for (const result of report.results) {
      expect(result.leakedTensors).toBe(0);
      expect(result.forwardError).toBeLessThanOrEqual(result.tolerance.forward);
      expect(result.gradientError).toBeLessThanOrEqual(result.tolerance.gradient);
    }
  });

  it(`passes ${binaryPairs.length} random broadcasting shape pairs of add, sub, mul and div`, () => {
    expect(binaryResults).toHaveLength(binaryPairs.length);
    expect(binaryResults.every((result) => result.backend === "gpu")).toBe(true);
    console.info(
      `broadcasting pairs on gpu (webgl2): worst gradient error ${Math.max(...binaryResults.map((result) => result.gradientError))} (relative)`,
    );
    expect(
      binaryResults.filter((result) => !result.passed).map((result) => `${result.name}: ${result.failure}`),
    ).toEqual([]);
  });

  it("runs the scatter-type gradients (gather, max, clamp, crossEntropy), which read values back", () => {
    for (const op of ["gather", "max", "clamp", "crossEntropy"]) {
      const results = report.results.filter((result) => result.name.startsWith(op));
      expect(results.length).toBeGreaterThan(0);
      expect(results.every((result) => result.passed)).toBe(true);
    }
  });

  it("computes every kernel on the gpu backend: no call fell back to js", () => {
    expect(Object.keys(report.fallbacks).filter((key) => key.startsWith("gpu"))).toEqual([]);
  });

  it("logs no console errors", () => {
    expect(consoleErrors).toEqual([]);
  });
});
