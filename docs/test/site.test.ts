/**
 * The built site in headless Chromium (Debian's `chromium`, driven by playwright-core): every page loads
 * without console errors; the demo fine-tunes stories260K on the `wasm` backend (cross-origin isolated, so
 * with threads, and again without isolation, on one thread) and on the `gpu` backend (gpu.js on WebGL2, which
 * headless Chromium runs on SwiftShader: slow, so few steps and a short sequence); the loss goes down; the
 * downloaded zip holds a PEFT adapter folder that `decodePeftAdapter` parses. Screenshots of the landing and
 * demo pages go to `docs/test-output/`. Set `PEFTJS_DOCS_NO_BUILD=1` to test an already built site (development).
 */
import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { decodePeftAdapter } from "@peftjs/adapters";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumExecutable, isChromiumAvailable, withChromium } from "./chromium.js";
import { type StaticServer, serveDirectory } from "./static-server.js";
import { unzipStored } from "./unzip.js";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));
const distRoot = `${docsRoot}.vitepress/dist/`;
const outputRoot = `${docsRoot}test-output/`;

const chromiumMissing = !isChromiumAvailable();
const missingReason = `headless Chromium not found at ${chromiumExecutable()} (install Debian's chromium, or set PEFTJS_CHROMIUM)`;
if (chromiumMissing) {
  if (process.env.CI !== undefined) throw new Error(`${missingReason}; CI must run the docs browser tests`);
  console.warn(`site.test.ts skipped: ${missingReason}`);
}

/** Runs a command in `docs/`, failing with its output. */
function runInDocs(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { cwd: docsRoot, encoding: "utf8", env: process.env });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

/** Every page of the built site as a clean URL path (`guide/concepts`, `reference/io/`). */
async function sitePages(): Promise<string[]> {
  const entries = await readdir(distRoot, { recursive: true });
  return entries
    .filter((entry) => entry.endsWith(".html") && entry !== "404.html")
    .map((entry) =>
      relative(distRoot, join(distRoot, entry))
        .replace(/index\.html$/, "")
        .replace(/\.html$/, ""),
    )
    .sort();
}

interface DemoRun {
  readonly state: string;
  readonly losses: number[];
  readonly status: string;
  readonly before: string;
  readonly after: string;
}

interface DemoInput {
  readonly backend: "gpu" | "wasm" | "js";
  readonly method: "lora" | "pissa";
  readonly steps: number;
  readonly sequenceLength: number;
  readonly newTokens: number;
}

/** Fills the demo's form, starts fine-tuning and waits until the run is done (or failed). */
async function runDemo(page: Page, input: DemoInput): Promise<DemoRun> {
  await page.waitForSelector('.peft-demo[data-state="idle"]');
  await page.selectOption('select[name="backend"]', input.backend);
  await page.selectOption('select[name="method"]', input.method);
  await page.fill('input[name="steps"]', String(input.steps));
  await page.fill('input[name="sequence-length"]', String(input.sequenceLength));
  await page.fill('input[name="new-tokens"]', String(input.newTokens));
  await page.click('button[name="train"]');
  await page.waitForSelector('.peft-demo[data-state="done"], .peft-demo[data-state="error"]', {
    timeout: 180_000,
  });
  const demo = page.locator(".peft-demo");
  const state = (await demo.getAttribute("data-state")) ?? "";
  const error = state === "error" ? ((await page.locator(".peft-demo .error").textContent()) ?? "") : "";
  return {
    state: error === "" ? state : `${state}: ${error}`,
    losses: JSON.parse((await demo.getAttribute("data-losses")) ?? "[]") as number[],
    status: (await page.locator(".peft-demo .status").textContent()) ?? "",
    before: state === "done" ? ((await page.locator('[data-story="before"]').textContent()) ?? "") : "",
    after: state === "done" ? ((await page.locator('[data-story="after"]').textContent()) ?? "") : "",
  };
}

/** Clicks "Download adapter", unzips the download and parses the PEFT folder inside. */
async function downloadAdapter(page: Page) {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click('button[name="download"]'),
  ]);
  const bytes = new Uint8Array(await readFile(await download.path()));
  const files = unzipStored(bytes);
  const config = files.find((file) => file.path.endsWith("/adapter_config.json"));
  const weights = files.find((file) => file.path.endsWith("/adapter_model.safetensors"));
  expect(config, "adapter_config.json in the zip").toBeDefined();
  expect(weights, "adapter_model.safetensors in the zip").toBeDefined();
  const adapter = decodePeftAdapter(JSON.parse(new TextDecoder().decode(config!.data)), weights!.data);
  return { name: download.suggestedFilename(), paths: files.map((file) => file.path), adapter };
}

describe.skipIf(chromiumMissing)("the documentation site in Chromium", () => {
  let isolated: StaticServer;
  let plain: StaticServer;

  beforeAll(async () => {
    if (process.env.PEFTJS_DOCS_NO_BUILD === undefined) {
      runInDocs(process.execPath, ["scripts/prepare.mjs"]);
      runInDocs(process.execPath, ["node_modules/vitepress/bin/vitepress.js", "build", "."]);
    }
    await mkdir(outputRoot, { recursive: true });
    isolated = await serveDirectory(distRoot, { crossOriginIsolation: true });
    plain = await serveDirectory(distRoot, { crossOriginIsolation: false });
  }, 300_000);

  afterAll(async () => {
    await isolated?.close();
    await plain?.close();
  });

  it("loads every page without console errors", async () => {
    const pages = await sitePages();
    expect(pages).toEqual(
      expect.arrayContaining(["", "demo", "guide/getting-started", "guide/concepts", "reference/adapters/"]),
    );
    await withChromium(async ({ page, errors }) => {
      for (const path of pages) {
        const response = await page.goto(`${isolated.url}${path}`, { waitUntil: "load" });
        expect(response?.status(), path).toBe(200);
        await expect.poll(() => page.locator("h1").count(), { message: path }).toBeGreaterThan(0);
      }
      await page.goto(isolated.url, { waitUntil: "networkidle" });
      await page.screenshot({ path: `${outputRoot}landing.png` });
      expect(errors).toEqual([]);
    });
  });

  it("fine-tunes LoRA on wasm with threads, and the downloaded adapter parses", async () => {
    await withChromium(async ({ page, errors }) => {
      await page.goto(`${isolated.url}demo`, { waitUntil: "load" });
      const run = await runDemo(page, {
        backend: "wasm",
        method: "lora",
        steps: 15,
        sequenceLength: 32,
        newTokens: 24,
      });
      expect(run.state).toBe("done");
      expect(run.status).toContain("cross-origin isolated");
      expect(run.losses).toHaveLength(15);
      expect(run.losses.at(-1)!).toBeLessThan(run.losses[0]! * 0.8);
      expect(run.before.length).toBeGreaterThan(0);
      const { name, paths, adapter } = await downloadAdapter(page);
      expect(name).toBe("peftjs-lora-adapter.zip");
      expect(paths).toEqual([
        "peftjs-lora-adapter/adapter_config.json",
        "peftjs-lora-adapter/adapter_model.safetensors",
      ]);
      expect(adapter.config.r).toBe(4);
      expect(adapter.modules.size).toBe(20); // q, k, v, o projections of stories260K's 5 layers
      await page.locator(".peft-demo").screenshot({ path: `${outputRoot}demo.png` });
      expect(errors).toEqual([]);
    });
  });

  it("fine-tunes PiSSA on wasm without cross-origin isolation (one thread)", async () => {
    await withChromium(async ({ page, errors }) => {
      await page.goto(`${plain.url}demo`, { waitUntil: "load" });
      const run = await runDemo(page, {
        backend: "wasm",
        method: "pissa",
        steps: 6,
        sequenceLength: 24,
        newTokens: 12,
      });
      expect(run.state).toBe("done");
      expect(run.status).toContain("not cross-origin isolated");
      expect(run.losses.at(-1)!).toBeLessThan(run.losses[0]!);
      const { adapter } = await downloadAdapter(page);
      // PiSSA is converted to plain LoRA for the original base: rank and alpha doubled.
      expect(adapter.config.r).toBe(8);
      expect(adapter.config.init_lora_weights).toBe(true);
      expect(errors).toEqual([]);
    });
  });

  it("fine-tunes on the gpu backend (gpu.js, WebGL2 on SwiftShader)", async () => {
    await withChromium(async ({ page, errors }) => {
      await page.goto(`${isolated.url}demo`, { waitUntil: "load" });
      const run = await runDemo(page, {
        backend: "gpu",
        method: "lora",
        steps: 4,
        sequenceLength: 16,
        newTokens: 8,
      });
      expect(run.state).toBe("done");
      expect(run.status).toContain("on gpu");
      // gpu.js's own mode, as the backend reports it: WebGL2 (SwiftShader), not a CPU fallback.
      expect(await page.locator(".stories .note").textContent()).toContain('mode "webgl2"');
      expect(run.losses).toHaveLength(4);
      expect(run.losses.at(-1)!).toBeLessThan(run.losses[0]!);
      const { adapter } = await downloadAdapter(page);
      expect(adapter.modules.size).toBe(20);
      await page.locator(".peft-demo").screenshot({ path: `${outputRoot}demo-gpu.png` });
      expect(errors).toEqual([]);
    });
  });
});
