/**
 * The task guide "Apply Hub adapters in the browser, in a Web Worker" (`guide/browser-worker-adapters.md`),
 * run as written: its ```ts browser blocks — the worker, the page and the Vite config, each named by its first
 * line — are bundled with Vite (workers as ES modules, as the page's config says) and run in headless Chromium
 * against a local Hub (`startLocalHub`). The repositories carry the names the page uses, but hold the docs'
 * tiny random-weight Llama (`tiny-hub-model.ts`) and two random LoRA adapters made here; the only change to
 * the code is the Hub endpoint. The page must print what a user would see: the adapters loaded, and per
 * request the continuation of the adapter asked for — compared with the same model, adapters and greedy
 * generation run in Node.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLoraConfig, LoraModel } from "@peftjs/adapters";
import { savePeftAdapter } from "@peftjs/adapters/node";
import {
  buildPage,
  type StaticServer,
  serveDirectory,
  skipWithoutChromium,
  withChromiumPage,
} from "@peftjs/browser-testing";
import { generate } from "@peftjs/models";
import { type LocalHub, loadModel, loadTokenizer, startLocalHub } from "@peftjs/models/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSamples } from "./markdown-samples.js";
import { writeTinyHubModel } from "./tiny-hub-model.js";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));
const page = "guide/browser-worker-adapters.md";
const modelId = "HuggingFaceTB/SmolLM2-135M";
const adapterIds = { poems: "my-org/smollm2-poems-lora", recipes: "my-org/smollm2-recipes-lora" };
const prompt = "Once upon a time";

describe.skipIf(skipWithoutChromium("browser-worker.test.ts"))("the Web Worker guide in Chromium", () => {
  let work: string;
  let hub: LocalHub;
  let site: StaticServer;
  /** What Node's greedy generation gives per adapter (null: the base model). */
  const expected = new Map<string | null, string>();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "peftjs-worker-guide-"));
    const modelFolder = join(work, "hub", modelId);
    await writeTinyHubModel(modelFolder, `${docsRoot}test/fixtures/sp-bpe-tokenizer`);
    // Two adapters with random B (init_lora_weights: false), strong enough to change greedy continuations.
    const model = await loadModel(modelFolder);
    const tokenizer = await loadTokenizer(modelFolder);
    const lora = LoraModel.create(model);
    const targets = { poems: ["q_proj", "v_proj"], recipes: ["gate_proj", "up_proj", "down_proj"] };
    for (const [index, [name, id]] of Object.entries(adapterIds).entries()) {
      const config = createLoraConfig({
        r: 4,
        lora_alpha: 64,
        target_modules: targets[name as keyof typeof targets],
        init_lora_weights: false,
      });
      lora.addAdapter(name, config, { seed: index + 1 });
      await savePeftAdapter(join(work, "hub", id), lora.getAdapter(name));
    }
    const ids = tokenizer.encode(prompt);
    const continuation = async () => tokenizer.decode(await generate(model, ids, { maxNewTokens: 12 }));
    lora.disableAdapters();
    expected.set(null, await continuation());
    lora.enableAdapters();
    for (const name of Object.keys(adapterIds)) {
      lora.setActiveAdapters(name);
      expected.set(name, await continuation());
    }
    model.dispose();
    hub = await startLocalHub(join(work, "hub"));

    const blocks = await readSamples(docsRoot, page, "ts browser");
    const files = new Map(blocks.map((block) => [/^\/\/ (\S+)\n/.exec(block.code)?.[1], block.code]));
    expect([...files.keys()]).toEqual(["adapter-worker.ts", "main.ts", "vite.config.ts"]);
    // The page's Vite config is what buildPage is told: workers bundled as ES modules.
    expect(files.get("vite.config.ts")).toContain('defineConfig({ worker: { format: "es" } })');
    const source = join(work, "page");
    await mkdir(source, { recursive: true });
    await writeFile(join(source, "adapter-worker.ts"), files.get("adapter-worker.ts")!);
    const main = files.get("main.ts")!;
    expect(main).toContain('endpoint: "https://huggingface.co"');
    await writeFile(
      join(source, "main.ts"),
      main.replace('"https://huggingface.co"', JSON.stringify(hub.url)),
    );
    await writeFile(
      join(source, "index.html"),
      '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>' +
        '<body><script type="module" src="./main.ts"></script></body></html>',
    );
    // Bundled from the docs package's node_modules, as a user's app resolves its installed packages.
    const alias = {
      "@peftjs/adapters": fileURLToPath(import.meta.resolve("@peftjs/adapters")),
      "@peftjs/models": fileURLToPath(import.meta.resolve("@peftjs/models")),
    };
    site = await serveDirectory(await buildPage({ root: source, alias, workerFormat: "es" }));
  }, 240_000);

  afterAll(async () => {
    await site?.close();
    await hub?.close();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it("loads the model and both adapters by id in a worker and answers with the adapter asked for", async () => {
    const printed = await withChromiumPage(
      { url: site.url, consoleTypes: ["log", "error"] },
      async ({ consoleMessages }) => {
        const deadline = Date.now() + 180_000;
        while (
          !consoleMessages.some((line) => /: done$|^error|^pageerror/.test(line)) &&
          Date.now() < deadline
        )
          await new Promise((resolve) => setTimeout(resolve, 200));
        return consoleMessages.map((line) => line.replace(/^\w+ on \S+: /, ""));
      },
    );
    expect(printed.filter((line) => /error/i.test(line))).toEqual([]);
    expect(printed).toEqual([
      "loaded: poems, recipes",
      `base: ${expected.get(null)}`,
      `poems: ${expected.get("poems")}`,
      `recipes: ${expected.get("recipes")}`,
      `poems: ${expected.get("poems")}`,
      "done",
    ]);
    // The adapters matter: each changes the continuation of the base model.
    expect(new Set(expected.values()).size).toBe(3);
    // The worker's files came from the local Hub: model, tokenizer and both adapters.
    const paths = hub.requests.map((request) => request.path).join("\n");
    for (const id of [modelId, ...Object.values(adapterIds)]) expect(paths).toContain(id);
  });
});
