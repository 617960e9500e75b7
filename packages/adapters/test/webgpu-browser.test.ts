/**
 * gpu.js's WebGPU mode end to end, in headless Chromium (Debian's `chromium` with the SwiftShader WebGPU flags,
 * through `@peftjs/browser-testing`): the built-in `webgpu` backend, selected with `setBackend`, runs greedy
 * generation and one LoRA training step on stories260K through the public APIs, and both match the `wasm`
 * backend in the same page. Everything the loops read goes through the engine's asynchronous path (webgpu
 * cannot read synchronously). The page bundles the built `dist` of every package (run `pnpm build` first).
 * Kept small (8 new tokens, one step): WebGPU on SwiftShader runs on the CPU.
 */
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildPage,
  type StaticServer,
  serveDirectory,
  skipWithoutChromium,
  withChromiumPage,
} from "@peftjs/browser-testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BackendRun, WebGpuSteps } from "./browser/webgpu-page/main.js";

const skipBrowser = skipWithoutChromium("webgpu-browser.test.ts");
const packagesRoot = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures/stories260k/", import.meta.url));
const newTokens = 8;

/** The built ESM entry of a workspace package, which must exist. */
function distEntry(folder: string, entry = "index.js"): string {
  const path = join(packagesRoot, folder, "dist", entry);
  if (!existsSync(path))
    throw new Error(`${path} is missing: run \`pnpm build\` in packages/${folder} first`);
  return path;
}

describe.skipIf(skipBrowser)("webgpu backend end to end in headless Chromium", () => {
  let server: StaticServer;
  const runs: Record<string, BackendRun> = {};
  let consoleErrors: string[] = [];

  beforeAll(async () => {
    const folder = await buildPage({
      root: fileURLToPath(new URL("./browser/webgpu-page/", import.meta.url)),
      alias: {
        "@peftjs/adapters": distEntry("adapters"),
        "@peftjs/models": distEntry("models"),
        "@peftjs/tensor": distEntry("tensor"),
        "@peftjs/io": distEntry("io"),
      },
    });
    mkdirSync(join(folder, "stories260k"));
    for (const file of ["config.json", "model.safetensors"])
      copyFileSync(join(fixtures, file), join(folder, "stories260k", file));
    server = await serveDirectory(folder);
    await withChromiumPage({ url: server.url, webGpu: true }, async ({ page, consoleMessages }) => {
      await page.waitForFunction(() => (window as { peftjsWebGpu?: unknown }).peftjsWebGpu !== undefined);
      for (const backend of ["wasm", "webgpu"]) {
        runs[backend] = await page.evaluate(
          ([name, count]) =>
            (window as unknown as { peftjsWebGpu: WebGpuSteps }).peftjsWebGpu.run(name, count),
          [backend, newTokens] as const,
        );
      }
      consoleErrors = [...consoleMessages];
    });
    for (const run of Object.values(runs)) {
      console.log(
        JSON.stringify({
          backend: run.backend,
          generateMs: Math.round(run.generateMs),
          trainStepMs: Math.round(run.trainMs),
        }),
      );
    }
  }, 300_000);

  afterAll(async () => {
    await server?.close();
  });

  it("selects webgpu (no silent fallback) and logs no console errors", () => {
    expect(runs.wasm!.backend).toBe("wasm");
    expect(runs.webgpu!.backend).toBe("webgpu");
    expect(consoleErrors).toEqual([]);
  });

  it("generates the same greedy tokens as wasm", () => {
    expect(runs.webgpu!.generated).toHaveLength(newTokens);
    expect(runs.webgpu!.generated).toEqual(runs.wasm!.generated);
  });

  it("takes the same training step as wasm", () => {
    const wasm = runs.wasm!;
    const webgpu = runs.webgpu!;
    // Both backends compute in float32 (SwiftShader is IEEE float32 on the CPU) with different reduction
    // orders; the backend conformance table's tolerance for such kernels is 1e-4 relative.
    expect(Math.abs(webgpu.loss - wasm.loss)).toBeLessThan(1e-4 * wasm.loss);
    expect(Math.abs(webgpu.gradientNorm - wasm.gradientNorm)).toBeLessThan(1e-3 * wasm.gradientNorm);
    expect(Object.keys(webgpu.parameters).sort()).toEqual(Object.keys(wasm.parameters).sort());
    let worst = 0;
    for (const [name, values] of Object.entries(wasm.parameters)) {
      const other = webgpu.parameters[name]!;
      expect(other).toHaveLength(values.length);
      for (let index = 0; index < values.length; index++)
        worst = Math.max(worst, Math.abs(other[index]! - values[index]!));
    }
    console.log(JSON.stringify({ worstParameterDifference: worst }));
    // AdamW's first step moves every entry by about lr·sign(g) = 5e-3; a wrong gradient sign flips it by 1e-2.
    expect(worst).toBeLessThan(1e-4);
  });
});
