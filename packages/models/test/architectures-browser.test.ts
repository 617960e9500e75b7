/**
 * The Hugging Face architecture fixtures (llama with llama3 RoPE, qwen2, qwen3, mistral) on the `gpu` backend
 * (gpu.js WebGL2 on SwiftShader, float32) and on `wasm`, in headless Chromium (Debian's `chromium`, through
 * `@peftjs/browser-testing`): logits within 1e-4 of transformers' and the KV-cache greedy ids identical. The
 * page bundles the built `dist` of io, tensor and models (run `pnpm build` first) and fetches the model
 * folders served beside it.
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
import type { ArchitectureRun } from "./browser/architectures-page/main.js";

const skipBrowser = skipWithoutChromium("architectures-browser.test.ts");
const packageRoot = fileURLToPath(new URL("../", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures/hf/", import.meta.url));
const names = ["llama_rope3", "qwen2", "qwen3", "mistral"];
const backends = ["gpu", "wasm"];

describe.skipIf(skipBrowser)("architectures in headless Chromium", () => {
  let server: StaticServer;
  const runs: ArchitectureRun[] = [];
  let consoleErrors: string[] = [];

  beforeAll(async () => {
    const dist = (folder: string) => {
      const path = join(packageRoot, "..", folder, "dist/index.js");
      if (!existsSync(path)) throw new Error(`${path} is missing: run \`pnpm build\` first`);
      return path;
    };
    const directory = await buildPage({
      root: fileURLToPath(new URL("./browser/architectures-page/", import.meta.url)),
      alias: {
        "@peftjs/models": dist("models"),
        "@peftjs/tensor": dist("tensor"),
        "@peftjs/io": dist("io"),
      },
    });
    for (const name of names)
      cpSync(join(fixtures, name), join(directory, "models", name), { recursive: true });
    server = await serveDirectory(directory);
    await withChromiumPage({ url: server.url }, async ({ page, consoleMessages }) => {
      await page.waitForFunction(
        () => (globalThis as { peftjsArchitectures?: unknown }).peftjsArchitectures !== undefined,
      );
      for (const backend of backends) {
        for (const name of names) {
          runs.push(
            await page.evaluate(
              ([model, chosen]) =>
                (
                  globalThis as unknown as {
                    peftjsArchitectures: { run(name: string, backend: string): Promise<ArchitectureRun> };
                  }
                ).peftjsArchitectures.run(model!, chosen!),
              [name, backend] as const,
            ),
          );
        }
      }
      consoleErrors = [...consoleMessages];
    });
  }, 900_000);

  afterAll(async () => {
    await server?.close();
  });

  it.each(backends.flatMap((backend) => names.map((name) => [name, backend] as const)))(
    "%s on %s: logits within 1e-4 of transformers and the same greedy ids",
    (name, backend) => {
      const index = backends.indexOf(backend) * names.length + names.indexOf(name);
      const run = runs[index]!;
      console.log(
        JSON.stringify({ architecture: name, ...run, greedy: undefined, expectedGreedy: undefined }),
      );
      expect(run.backend).toBe(backend);
      // The fixture README's bound for an fp32 implementation (fp64 forward: ≤ 2.3e-6 from transformers).
      expect(run.logitsError).toBeLessThan(1e-4);
      expect(run.greedyLogitsError).toBeLessThan(1e-4);
      expect(run.greedy).toEqual(run.expectedGreedy);
    },
  );

  it("logs no console errors", () => {
    expect(consoleErrors.filter((message) => !message.includes("Failed to load resource"))).toEqual([]);
  });
});
