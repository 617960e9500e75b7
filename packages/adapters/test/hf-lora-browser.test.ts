/**
 * PEFT LoRA on transformers' Llama (llama3 RoPE), Qwen2 and Qwen3 fixtures on the `gpu` backend (gpu.js WebGL2
 * on SwiftShader, float32) in headless Chromium (Debian's `chromium`, through `@peftjs/browser-testing`):
 * PEFT's trained adapter and the merged model reproduce PEFT's logits, and 5 AdamW steps from `adapter_init`
 * reproduce its losses, with the bounds of `hf-lora.test.ts`. The page bundles the built `dist` of io, tensor,
 * models and adapters (run `pnpm build` first) and fetches the fixture folders served beside it.
 */
import { cpSync, existsSync } from "node:fs";
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
import type { LoraRun } from "./browser/lora-page/main.js";
import { fixturePath } from "./helpers.js";

const skipBrowser = skipWithoutChromium("hf-lora-browser.test.ts");
const packagesRoot = fileURLToPath(new URL("../../", import.meta.url));
const names = ["llama_rope3", "qwen2", "qwen3"];

describe.skipIf(skipBrowser)("PEFT LoRA on the gpu backend in headless Chromium", () => {
  let server: StaticServer;
  const runs = new Map<string, LoraRun>();
  let consoleErrors: string[] = [];

  beforeAll(async () => {
    const dist = (folder: string) => {
      const path = join(packagesRoot, folder, "dist/index.js");
      if (!existsSync(path)) throw new Error(`${path} is missing: run \`pnpm build\` first`);
      return path;
    };
    const directory = await buildPage({
      root: fileURLToPath(new URL("./browser/lora-page/", import.meta.url)),
      alias: {
        "@peftjs/adapters": dist("adapters"),
        "@peftjs/models": dist("models"),
        "@peftjs/tensor": dist("tensor"),
        "@peftjs/io": dist("io"),
      },
    });
    for (const name of names)
      cpSync(fixturePath(`hf/${name}`), join(directory, "hf", name), { recursive: true });
    server = await serveDirectory(directory);
    await withChromiumPage({ url: server.url }, async ({ page, consoleMessages }) => {
      await page.waitForFunction(() => (globalThis as { peftjsLora?: unknown }).peftjsLora !== undefined);
      for (const name of names) {
        const run = await page.evaluate(
          (model) =>
            (
              globalThis as unknown as {
                peftjsLora: { run(name: string, backend: string): Promise<LoraRun> };
              }
            ).peftjsLora.run(model, "gpu"),
          name,
        );
        runs.set(name, run);
      }
      consoleErrors = [...consoleMessages];
    });
  }, 900_000);

  afterAll(async () => {
    await server?.close();
  });

  it.each(names)("%s: trained and merged logits, and the 5 AdamW losses", (name) => {
    const run = runs.get(name)!;
    const lossError = Math.max(...run.losses.map((loss, step) => Math.abs(loss - run.expectedLosses[step]!)));
    console.log(JSON.stringify({ architecture: name, ...run, losses: undefined, lossError }));
    expect(run.backend).toBe("gpu");
    // The bounds of hf-lora.test.ts for what one forward/backward computes: PEFT's trained and merged logits
    // 1e-3 (measured ≤ 3.0e-6), step-0 gradients 3e-5 of each tensor's largest entry.
    expect(run.trainedError).toBeLessThan(1e-3);
    expect(run.mergedError).toBeLessThan(1e-3);
    expect(run.gradientError).toBeLessThan(3e-5);
    // After 5 AdamW steps the round-off of the early, tiny gradients is amplified by Adam's normalisation (PEFT's
    // own float64 replay moves Qwen3's trained logits by 1.7e-4), and gpu.js's GLSL exp/log/inverse square root
    // are not correctly rounded as on the CPU backends, so the trajectory lands further: measured losses
    // ≤ 9.5e-6 and trained logits ≤ 1.5e-3 (Qwen3; js 5.6e-4, wasm 2.0e-4). Bounds: 5e-5 (7e-6 relative) and 5e-3.
    expect(run.losses).toHaveLength(5);
    expect(lossError).toBeLessThan(5e-5);
    expect(run.trainingLogitsError).toBeLessThan(5e-3);
  });

  it("logs no console errors", () => {
    expect(consoleErrors.filter((message) => !message.includes("Failed to load resource"))).toEqual([]);
  });
});
