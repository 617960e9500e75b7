/**
 * Gemma 3 (gemma3_text) on the gpu backends in headless Chromium (Debian's `chromium`, through
 * `@peftjs/browser-testing`; SwiftShader, i.e. float32 on the CPU): `gpu` (gpu.js's WebGL2 mode) and `webgpu`
 * (a second browser with the WebGPU flags, read through the asynchronous path). The page bundles the built
 * `dist` (run `pnpm build` first) and loads the fixture model over HTTP; each backend must reproduce
 * transformers' logits within 1e-4 and its 24 greedy ids with the KV cache (the fixture README's bounds, as in
 * `gemma3.test.ts`).
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
import type { Gemma3BrowserReport } from "./browser/gemma3-page/main.js";

const skipBrowser = skipWithoutChromium("gemma3-browser.test.ts");
const packageRoot = fileURLToPath(new URL("../", import.meta.url));
const fixture = fileURLToPath(new URL("./fixtures/hf/gemma3/", import.meta.url));

describe.skipIf(skipBrowser)("Gemma 3 on the gpu backends in headless Chromium", () => {
  let server: StaticServer;

  beforeAll(async () => {
    const distIndex = `${packageRoot}dist/index.js`;
    if (!existsSync(distIndex))
      throw new Error(`${distIndex} is missing: run \`pnpm build\` in packages/models first`);
    const page = await buildPage({
      root: fileURLToPath(new URL("./browser/gemma3-page/", import.meta.url)),
      alias: { "@peftjs/models": distIndex },
    });
    mkdirSync(join(page, "gemma3"));
    for (const file of ["config.json", "model.safetensors", "reference.json", "reference.safetensors"]) {
      copyFileSync(join(fixture, file), join(page, "gemma3", file));
    }
    server = await serveDirectory(page);
  }, 120_000);

  afterAll(() => server?.close());

  it.each([
    { backend: "gpu", webGpu: false, mode: "webgl2" },
    { backend: "webgpu", webGpu: true, mode: "webgpu" },
  ])(
    "reproduces transformers' logits and greedy ids on $backend",
    async ({ backend, webGpu, mode }) => {
      const { report, consoleErrors } = await withChromiumPage(
        { url: server.url, webGpu },
        async ({ page, consoleMessages }) => {
          await page.waitForFunction(
            () => (globalThis as { peftjsGemma3?: unknown }).peftjsGemma3 !== undefined,
          );
          const result = (await page.evaluate(
            (name) =>
              (
                globalThis as unknown as {
                  peftjsGemma3: { run: (name: string) => Promise<unknown> };
                }
              ).peftjsGemma3.run(name),
            backend,
          )) as Gemma3BrowserReport;
          return { report: result, consoleErrors: [...consoleMessages] };
        },
      );
      console.log(
        JSON.stringify({
          gemma3: "browser",
          ...report,
          greedy: undefined,
          expectedGreedy: undefined,
          consoleErrors,
        }),
      );
      expect(report.mode).toBe(mode);
      expect(report.logitsError).toBeLessThan(1e-4);
      expect(report.greedyLogitsError).toBeLessThan(1e-4);
      expect(report.greedy).toEqual(report.expectedGreedy);
      // The loader probes optional files (a shard index), which the static server answers with 404.
      expect(consoleErrors.filter((message) => !message.includes("Failed to load resource"))).toEqual([]);
    },
    300_000,
  );
});
