/**
 * The built site in headless Chromium (Debian's `chromium`, driven by playwright-core): every page loads
 * without console errors; the demo fine-tunes stories260K with a LoRA and a PiSSA adapter side by side on the
 * `wasm` backend (cross-origin isolated, so with threads, and again without isolation, on one thread) and on
 * the `gpu` backend (gpu.js on WebGL2, which headless Chromium runs on SwiftShader: slow, so few steps and a
 * short sequence); both curves are drawn, both losses go down, the verdict names the method whose loss fell
 * faster; the downloaded zip holds two PEFT adapter folders that `decodePeftAdapter` parses. Screenshots of the landing and
 * demo pages go to `docs/test-output/`. Set `PEFTJS_DOCS_NO_BUILD=1` to test an already built site (development).
 */
import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { decodePeftAdapter } from "@peftjs/adapters";
import {
  type ChromiumOptions,
  type StaticServer,
  serveDirectory,
  skipWithoutChromium,
  withChromium,
} from "@peftjs/browser-testing";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unzipStored } from "./unzip.js";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));
const distRoot = `${docsRoot}.vitepress/dist/`;
const outputRoot = `${docsRoot}test-output/`;

const skipBrowser = skipWithoutChromium("site.test.ts");
/** The docs pages are checked at a desktop size, and the demo's adapter download must be allowed. */
const browserOptions: ChromiumOptions = { acceptDownloads: true, viewport: { width: 1280, height: 900 } };

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

type Method = "lora" | "pissa";
const methods: readonly Method[] = ["lora", "pissa"];

interface DemoRun {
  readonly state: string;
  readonly losses: Record<Method, number[]>;
  readonly status: string;
  /** The page's verdict on which loss fell faster, and the method it names (`data-faster`). */
  readonly verdict: string;
  readonly faster: string;
  readonly stories: Record<`${Method}-${"before" | "after"}`, string>;
  /** How many loss curves the chart draws. */
  readonly curves: number;
}

interface DemoInput {
  readonly backend: "gpu" | "wasm" | "js";
  readonly steps: number;
  readonly sequenceLength: number;
  readonly newTokens: number;
}

/** Fills the demo's form, starts fine-tuning (LoRA and PiSSA) and waits until the run is done (or failed). */
async function runDemo(page: Page, input: DemoInput): Promise<DemoRun> {
  await page.waitForSelector('.peft-demo[data-state="idle"]');
  await page.selectOption('select[name="backend"]', input.backend);
  await page.fill('input[name="steps"]', String(input.steps));
  await page.fill('input[name="sequence-length"]', String(input.sequenceLength));
  await page.fill('input[name="new-tokens"]', String(input.newTokens));
  await page.click('button[name="train"]');
  await page.waitForSelector('.peft-demo[data-state="done"], .peft-demo[data-state="error"]', {
    timeout: 180_000,
  });
  const demo = page.locator(".peft-demo");
  const state = (await demo.getAttribute("data-state")) ?? "";
  const done = state === "done";
  const error = done ? "" : ((await page.locator(".peft-demo .error").textContent()) ?? "");
  const text = async (selector: string) => (done ? ((await page.locator(selector).textContent()) ?? "") : "");
  const losses = async (method: Method) =>
    JSON.parse((await demo.getAttribute(`data-losses-${method}`)) ?? "[]") as number[];
  return {
    state: error === "" ? state : `${state}: ${error}`,
    losses: { lora: await losses("lora"), pissa: await losses("pissa") },
    status: (await page.locator(".peft-demo .status").textContent()) ?? "",
    verdict: await text(".peft-demo .verdict"),
    faster: done ? ((await page.locator(".peft-demo .verdict").getAttribute("data-faster")) ?? "") : "",
    stories: {
      "lora-before": await text('[data-story="lora-before"]'),
      "lora-after": await text('[data-story="lora-after"]'),
      "pissa-before": await text('[data-story="pissa-before"]'),
      "pissa-after": await text('[data-story="pissa-after"]'),
    },
    curves: await page.locator(".peft-demo polyline[data-curve]").count(),
  };
}

/** Mean of the losses of steps ⌊n/2⌋+1 … n: the page's measure of which loss fell faster. */
function secondHalfMean(losses: readonly number[]): number {
  const half = losses.slice(Math.floor(losses.length / 2));
  return half.reduce((sum, loss) => sum + loss, 0) / half.length;
}

/**
 * Checks what every run must show: both curves drawn with one loss per step, both losses fallen, stories
 * before and after for each method, and a verdict naming the method whose second-half mean loss is lower.
 */
function expectComparison(run: DemoRun, steps: number): void {
  expect(run.state).toBe("done");
  expect(run.curves).toBe(2);
  for (const method of methods) {
    const losses = run.losses[method];
    expect(losses, method).toHaveLength(steps);
    expect(losses.at(-1)!, `${method} loss falls`).toBeLessThan(losses[0]!);
    expect(run.stories[`${method}-before`].length, `${method} story before`).toBeGreaterThan(0);
    expect(run.stories[`${method}-after`].length, `${method} story after`).toBeGreaterThan(0);
  }
  const lora = secondHalfMean(run.losses.lora);
  const pissa = secondHalfMean(run.losses.pissa);
  const faster = lora === pissa ? "neither" : lora < pissa ? "LoRA" : "PiSSA";
  expect(run.faster).toBe(faster);
  if (faster !== "neither") expect(run.verdict).toContain(`${faster}'s loss fell faster`);
}

/**
 * Clicks "Download both adapters", unzips the download and parses the two PEFT folders inside (the LoRA
 * adapter as trained, the PiSSA adapter converted to plain LoRA).
 */
async function downloadAdapters(page: Page) {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click('button[name="download"]'),
  ]);
  const bytes = new Uint8Array(await readFile(await download.path()));
  const files = unzipStored(bytes);
  const parse = (folder: string) => {
    const config = files.find((file) => file.path === `${folder}/adapter_config.json`);
    const weights = files.find((file) => file.path === `${folder}/adapter_model.safetensors`);
    expect(config, `${folder}/adapter_config.json in the zip`).toBeDefined();
    expect(weights, `${folder}/adapter_model.safetensors in the zip`).toBeDefined();
    return decodePeftAdapter(JSON.parse(new TextDecoder().decode(config!.data)), weights!.data);
  };
  return {
    name: download.suggestedFilename(),
    paths: files.map((file) => file.path),
    lora: parse("peftjs-lora-adapter"),
    pissa: parse("peftjs-pissa-adapter"),
  };
}

/**
 * Saves a screenshot of the whole demo (form, chart, verdict, stories) to `test-output/`: the viewport is made
 * tall enough first, so the page's fixed navigation bar does not cover the top of the element.
 */
async function screenshotDemo(page: Page, fileName: string): Promise<void> {
  const box = await page.locator(".peft-demo").boundingBox();
  await page.setViewportSize({ width: 1280, height: Math.ceil((box?.height ?? 900) + 200) });
  await page.locator(".peft-demo").screenshot({ path: `${outputRoot}${fileName}` });
}

describe.skipIf(skipBrowser)("the documentation site in Chromium", () => {
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
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
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

  it("fine-tunes LoRA and PiSSA on wasm with threads; both downloaded adapters parse", async () => {
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
      await page.goto(`${isolated.url}demo`, { waitUntil: "load" });
      const run = await runDemo(page, { backend: "wasm", steps: 12, sequenceLength: 32, newTokens: 20 });
      expectComparison(run, 12);
      expect(run.status).toContain("cross-origin isolated");
      // Twelve AdamW steps at learning rate 0.01 on one 32-token sequence memorize it: both losses fell from
      // about 2.2 to about 0.05 in the runs seen, so "below 80% of the first" has a wide margin.
      for (const method of methods) {
        expect(run.losses[method].at(-1)!, method).toBeLessThan(run.losses[method][0]! * 0.8);
      }
      // LoRA starts from B = 0 and PiSSA from W_res + BA = W: the same model, so the first losses agree
      // (to float32 rounding of the SVD split, orders of magnitude below 1e-2 on a loss near 2).
      expect(Math.abs(run.losses.lora[0]! - run.losses.pissa[0]!)).toBeLessThan(1e-2);
      const { name, paths, lora, pissa } = await downloadAdapters(page);
      expect(name).toBe("peftjs-lora-and-pissa-adapters.zip");
      expect(paths).toEqual([
        "peftjs-lora-adapter/adapter_config.json",
        "peftjs-lora-adapter/adapter_model.safetensors",
        "peftjs-pissa-adapter/adapter_config.json",
        "peftjs-pissa-adapter/adapter_model.safetensors",
      ]);
      expect(lora.config.r).toBe(4);
      expect(lora.modules.size).toBe(20); // q, k, v, o projections of stories260K's 5 layers
      // PiSSA is converted to plain LoRA for the original base: rank and alpha doubled.
      expect(pissa.config.r).toBe(8);
      expect(pissa.config.init_lora_weights).toBe(true);
      expect(pissa.modules.size).toBe(20);
      await screenshotDemo(page, "demo.png");
      expect(errors).toEqual([]);
    });
  });

  it("fine-tunes LoRA and PiSSA on wasm without cross-origin isolation (one thread)", async () => {
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
      await page.goto(`${plain.url}demo`, { waitUntil: "load" });
      const run = await runDemo(page, { backend: "wasm", steps: 4, sequenceLength: 24, newTokens: 8 });
      expectComparison(run, 4);
      expect(run.status).toContain("not cross-origin isolated");
      expect(errors).toEqual([]);
    });
  });

  it("fine-tunes LoRA and PiSSA on the gpu backend (gpu.js, WebGL2 on SwiftShader)", async () => {
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
      await page.goto(`${isolated.url}demo`, { waitUntil: "load" });
      const run = await runDemo(page, { backend: "gpu", steps: 3, sequenceLength: 12, newTokens: 6 });
      expectComparison(run, 3);
      expect(run.status).toContain("on gpu");
      // gpu.js's own mode, as the backend reports it: WebGL2 (SwiftShader), not a CPU fallback.
      expect(await page.locator(".stories .note").textContent()).toContain('mode "webgl2"');
      const { lora, pissa } = await downloadAdapters(page);
      expect(lora.modules.size).toBe(20);
      expect(pissa.config.r).toBe(8);
      await screenshotDemo(page, "demo-gpu.png");
      expect(errors).toEqual([]);
    });
  });
});
