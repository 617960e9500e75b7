/**
 * The built site. Without a browser: no page is published from `test/` or `public/` (fixture READMEs), every
 * in-site link and `#anchor` of every page resolves, the "What fits" tables match the code's registries, the
 * reference has a page with a source link for every most-used symbol, and the navigation links the repository.
 * In headless Chromium (Debian's `chromium`, driven by playwright-core): the guide pages and a sample of the
 * reference load without console errors; local search finds `LoraModel`; the demo fine-tunes stories260K with
 * LoRA (several seeds) and PiSSA on the `wasm` backend (cross-origin isolated, so with threads, and again
 * without isolation, on one thread) and on the `gpu` backend (gpu.js on WebGL2, which headless Chromium runs
 * on SwiftShader: slow, so few steps, one seed and a short sequence); the curves are drawn, the losses go
 * down, and the verdict is the one `compareLossRuns` reaches on the page's own losses (so a gap within the
 * measured noise is never called a win); the downloaded zip holds two PEFT adapter folders that
 * `decodePeftAdapter` parses. Screenshots go to `docs/test-output/`.
 *
 * The site is built first, unless turbo runs this test (turbo built the site as this task's dependency, and
 * sets TURBO_HASH) or `PEFTJS_DOCS_NO_BUILD=1` is set (development, on an already built site).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { decodePeftAdapter, initMethodFor, listInitMethods, listLoraVariants } from "@peftjs/adapters";
import {
  type ChromiumOptions,
  type StaticServer,
  serveDirectory,
  skipWithoutChromium,
  withChromium,
} from "@peftjs/browser-testing";
import * as models from "@peftjs/models";
import { listBackends } from "@peftjs/tensor";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareLossRuns } from "../../apps/peftjs/src/demo/compare.js";
import { type BuiltPage, brokenLinks, readBuiltPages } from "./html-links.js";
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

let pages: BuiltPage[] = [];

beforeAll(async () => {
  const built = process.env.TURBO_HASH !== undefined || process.env.PEFTJS_DOCS_NO_BUILD !== undefined;
  if (!built || !existsSync(`${distRoot}index.html`)) {
    runInDocs(process.execPath, ["scripts/prepare.mjs"]);
    runInDocs(process.execPath, ["node_modules/vitepress/bin/vitepress.js", "build", "."]);
  }
  pages = await readBuiltPages(distRoot);
}, 600_000);

/** The text of every cell of the first table after the heading with `headingId` on a built page. */
async function tableAfter(file: string, headingId: string): Promise<string[][]> {
  const html = await readFile(`${distRoot}${file}`, "utf8");
  const start = html.indexOf(`id="${headingId}"`);
  expect(start, `#${headingId} on ${file}`).toBeGreaterThan(0);
  const table = html.slice(html.indexOf("<tbody>", start), html.indexOf("</tbody>", start));
  return [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) =>
      cell[1]!
        .replace(/<[^>]+>/g, "")
        .replaceAll("&quot;", '"')
        .trim(),
    ),
  );
}

describe("the built site", () => {
  it("publishes the guides, the demo and the reference, and nothing from test/ or public/", () => {
    const paths = pages.map((page) => page.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "/",
        "/demo",
        "/changelog",
        "/guide/installation",
        "/guide/getting-started",
        "/guide/what-fits",
        "/guide/troubleshooting",
        "/guide/checkpoint-format",
        "/reference/",
        "/reference/adapters/",
      ]),
    );
    expect(paths.filter((path) => /^\/(test|public|generated)\//.test(path))).toEqual([]);
    expect(paths.filter((path) => /readme$/i.test(path))).toEqual([]);
    // The example adapters' provenance notes are served as files, not rendered as pages.
    expect(existsSync(`${distRoot}examples/pissa-peft/README.md`)).toBe(true);
  });

  it("resolves every in-site link and #anchor of every page", () => {
    const links = pages.reduce((count, page) => count + page.hrefs.length, 0);
    expect(pages.length).toBeGreaterThan(100);
    expect(links).toBeGreaterThan(10_000);
    expect(brokenLinks(distRoot, pages)).toEqual([]);
  });

  it("links the repository from every page's navigation", () => {
    for (const path of ["/", "/guide/installation", "/reference/"]) {
      const page = pages.find((entry) => entry.path === path)!;
      expect(page.hrefs, path).toContain("https://github.com/peftjs/peftjs");
    }
  });

  it("has a reference page with its import line and a source link for every most-used symbol", async () => {
    const { mostUsed, missing, symbols } = JSON.parse(
      await readFile(`${docsRoot}reference/symbols.json`, "utf8"),
    ) as { mostUsed: string[]; missing: string[]; symbols: { name: string; link: string }[] };
    expect(missing).toEqual([]);
    expect(mostUsed).toEqual(expect.arrayContaining(["LoraModel", "createLoraConfig", "train"]));
    const overview = pages.find((page) => page.path === "/reference/")!;
    for (const name of mostUsed) {
      const symbol = symbols.find((entry) => entry.name === name)!;
      expect(overview.hrefs, name).toContain(symbol.link);
      const html = await readFile(`${distRoot}${symbol.link.slice(1)}.html`, "utf8");
      expect(html, name).toMatch(
        /href="https:\/\/github\.com\/peftjs\/peftjs\/blob\/main\/packages\/[a-z]+\/src\//,
      );
      const text = html.replace(/<[^>]+>/g, "").replaceAll("&quot;", '"');
      expect(text, name).toMatch(new RegExp(`import \\{ ${name} \\} from "@peftjs/[a-z]+(/node)?"`));
    }
  });

  it("shows the what-fits tables exactly as the registries are", async () => {
    const methods = await tableAfter("guide/what-fits.html", "adapter-methods");
    const initMethods = listInitMethods();
    expect(methods.map((row) => row[0])).toEqual(initMethods.map((method) => method.name));
    for (const [index, method] of initMethods.entries()) {
      expect(methods[index]![2], method.name).toBe(method.readsBaseWeight ? "yes" : "no");
      expect(methods[index]![4], method.name).toBe(method.description);
      // Each PEFT init value listed is one this init method handles (the cell holds JSON literals).
      for (const value of methods[index]![1]!.split(", ").filter((cell) => cell !== "—"))
        expect(initMethodFor(JSON.parse(value)).name, value).toBe(method.name);
    }
    const architectures = await tableAfter("guide/what-fits.html", "model-architectures");
    expect(architectures.map((row) => row[0])).toEqual(models.listArchitectures());
    // The variants are one sentence after the init methods' table: each registered variant is named in it.
    const variantsHtml = await readFile(`${distRoot}guide/what-fits.html`, "utf8");
    const variantsSentence = /LoRA variants \(how[\s\S]*?<\/p>/.exec(variantsHtml)?.[0] ?? "";
    expect([...variantsSentence.matchAll(/<code>([a-z_-]+)<\/code> \(/g)].map((match) => match[1])).toEqual(
      listLoraVariants().map((variant) => variant.name),
    );
    const tokenizers = await tableAfter("guide/what-fits.html", "tokenizers");
    expect(tokenizers.map((row) => row[0])).toEqual(
      Object.entries(models)
        .filter(([name, value]) => /Tokenizer$/.test(name) && typeof value === "function")
        .map(([name]) => name)
        .sort(),
    );
    const backends = await tableAfter("guide/what-fits.html", "backends");
    expect(backends.map((row) => row[0]).sort()).toEqual(
      listBackends()
        .map((backend) => backend.name)
        .sort(),
    );
  });
});

type Method = "lora" | "pissa";
const methods: readonly Method[] = ["lora", "pissa"];

interface DemoRun {
  readonly state: string;
  /** LoRA's first seed and PiSSA: the curves the stories and the download come from. */
  readonly losses: Record<Method, number[]>;
  /** Every LoRA seed's curve. */
  readonly loraSeeds: number[][];
  readonly status: string;
  /** The page's verdict sentences, its outcome, the method it names and whether it flags the last losses. */
  readonly verdict: string;
  readonly outcome: string;
  readonly lower: string;
  readonly finalsDisagree: string;
  readonly stories: Record<`${Method}-${"before" | "after"}`, string>;
  /** How many loss curves the chart draws. */
  readonly curves: number;
}

interface DemoInput {
  readonly backend: "gpu" | "wasm" | "js";
  readonly steps: number;
  readonly seeds: number;
  readonly sequenceLength: number;
  readonly newTokens: number;
}

/** Fills the demo's form, starts fine-tuning (LoRA and PiSSA) and waits until the run is done (or failed). */
async function runDemo(page: Page, input: DemoInput): Promise<DemoRun> {
  await page.waitForSelector('.peft-demo[data-state="idle"]');
  await page.selectOption('select[name="backend"]', input.backend);
  await page.fill('input[name="steps"]', String(input.steps));
  await page.fill('input[name="seeds"]', String(input.seeds));
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
  const verdictAttribute = async (name: string) =>
    done ? ((await page.locator(".peft-demo .verdict").getAttribute(name)) ?? "") : "";
  const losses = async (method: Method) =>
    JSON.parse((await demo.getAttribute(`data-losses-${method}`)) ?? "[]") as number[];
  return {
    state: error === "" ? state : `${state}: ${error}`,
    losses: { lora: await losses("lora"), pissa: await losses("pissa") },
    loraSeeds: JSON.parse((await demo.getAttribute("data-losses-lora-seeds")) ?? "[]") as number[][],
    status: (await page.locator(".peft-demo .status").textContent()) ?? "",
    verdict: await text(".peft-demo .verdict"),
    outcome: await verdictAttribute("data-outcome"),
    lower: await verdictAttribute("data-lower"),
    finalsDisagree: await verdictAttribute("data-finals-disagree"),
    stories: {
      "lora-before": await text('[data-story="lora-before"]'),
      "lora-after": await text('[data-story="lora-after"]'),
      "pissa-before": await text('[data-story="pissa-before"]'),
      "pissa-after": await text('[data-story="pissa-after"]'),
    },
    curves: await page.locator(".peft-demo polyline[data-curve]").count(),
  };
}

/**
 * Checks what every run must show: the two bold curves drawn (plus a faint one per further LoRA seed) with one
 * loss per step, both losses fallen, stories before and after for each method, and exactly the verdict that
 * `compareLossRuns` reaches on the page's own losses: a method is named only beyond the measured noise.
 */
function expectComparison(run: DemoRun, steps: number, seeds: number): void {
  expect(run.state).toBe("done");
  expect(run.curves).toBe(2);
  expect(run.loraSeeds).toHaveLength(seeds);
  expect(run.loraSeeds[0]).toEqual(run.losses.lora);
  for (const method of methods) {
    const losses = run.losses[method];
    expect(losses, method).toHaveLength(steps);
    expect(losses.at(-1)!, `${method} loss falls`).toBeLessThan(losses[0]!);
    expect(run.stories[`${method}-before`].length, `${method} story before`).toBeGreaterThan(0);
    expect(run.stories[`${method}-after`].length, `${method} story after`).toBeGreaterThan(0);
  }
  const verdict = compareLossRuns(
    ["LoRA", "PiSSA"],
    run.loraSeeds.map((lora) => ({ first: lora, second: run.losses.pissa })),
    { reported: { lower: "PiSSA", source: "the PiSSA paper" } },
  );
  expect(run.outcome).toBe(verdict.outcome);
  expect(run.lower).toBe(verdict.lower ?? "neither");
  expect(run.finalsDisagree).toBe(String(verdict.finalsDisagree));
  expect(run.verdict).toContain(verdict.sentences[0]);
  if (verdict.outcome !== "beyond-noise") expect(run.verdict).not.toMatch(/fell faster[,.]/);
  if (seeds === 1) expect(run.outcome).toBe("unmeasured");
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
    await mkdir(outputRoot, { recursive: true });
    isolated = await serveDirectory(distRoot, { crossOriginIsolation: true });
    plain = await serveDirectory(distRoot, { crossOriginIsolation: false });
  }, 300_000);

  afterAll(async () => {
    await isolated?.close();
    await plain?.close();
  });

  it("loads the pages without console errors (every page but the reference's symbol pages, and those most used)", async () => {
    const { mostUsed, symbols } = JSON.parse(await readFile(`${docsRoot}reference/symbols.json`, "utf8")) as {
      mostUsed: string[];
      symbols: { name: string; link: string }[];
    };
    const mostUsedLinks = new Set(
      symbols.filter((symbol) => mostUsed.includes(symbol.name)).map((s) => s.link),
    );
    // The symbol pages are typedoc's markdown, all alike: the most used ones stand for the rest here (their
    // links and anchors are all checked above without a browser).
    const visited = pages
      .map((page) => page.path)
      .filter((path) => !/^\/reference\/.+\/.+\/.+/.test(path) || mostUsedLinks.has(path));
    expect(visited.length).toBeGreaterThan(30);
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
      for (const path of visited) {
        const response = await page.goto(`${isolated.url}${path.slice(1)}`, { waitUntil: "load" });
        expect(response?.status(), path).toBe(200);
        await expect.poll(() => page.locator("h1").count(), { message: path }).toBeGreaterThan(0);
      }
      await page.goto(isolated.url, { waitUntil: "networkidle" });
      await page.screenshot({ path: `${outputRoot}landing.png` });
      expect(errors).toEqual([]);
    });
  });

  it("fits every code line of the guides in the text column on a wide screen", async () => {
    const guides = pages
      .map((page) => page.path)
      .filter((path) => path === "/" || path.startsWith("/guide/"));
    await withChromium(
      { viewport: { width: 1920, height: 1080 } },
      async ({ page, consoleMessages: errors }) => {
        for (const path of guides) {
          await page.goto(`${isolated.url}${path.slice(1)}`, { waitUntil: "load" });
          const overflowing = await page.evaluate(() =>
            [...document.querySelectorAll(".vp-doc div[class*='language-'] pre")]
              .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
              .map((pre) =>
                (pre.textContent ?? "").split("\n").reduce((a, b) => (b.length > a.length ? b : a), ""),
              ),
          );
          expect(overflowing, path).toEqual([]);
        }
        expect(errors).toEqual([]);
      },
    );
  });

  it("finds LoraModel with the local search", async () => {
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
      await page.goto(`${isolated.url}guide/getting-started`, { waitUntil: "networkidle" });
      await page.click(".VPNavBarSearch button");
      await page.fill(".VPLocalSearchBox input", "LoraModel");
      const result = page.locator(
        '.VPLocalSearchBox a.result[href^="/reference/adapters/index/classes/LoraModel#"]',
      );
      await result.first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${outputRoot}search.png` });
      await result.first().click();
      await page.waitForURL(/\/reference\/adapters\/index\/classes\/LoraModel/);
      // The router changes the URL before it swaps the content in: wait for the page's title.
      await expect.poll(() => page.locator(".vp-doc h1").first().textContent()).toContain("LoraModel");
      expect(errors).toEqual([]);
    });
  });

  it("fine-tunes LoRA and PiSSA on wasm with threads; both downloaded adapters parse", async () => {
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
      await page.goto(`${isolated.url}demo`, { waitUntil: "load" });
      const input = { backend: "wasm", steps: 12, seeds: 3, sequenceLength: 32, newTokens: 20 } as const;
      const run = await runDemo(page, input);
      expectComparison(run, 12, 3);
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
      const run = await runDemo(page, {
        backend: "wasm",
        steps: 4,
        seeds: 2,
        sequenceLength: 24,
        newTokens: 8,
      });
      expectComparison(run, 4, 2);
      expect(run.status).toContain("not cross-origin isolated");
      expect(errors).toEqual([]);
    });
  });

  it("fine-tunes LoRA and PiSSA on the gpu backend (gpu.js, WebGL2 on SwiftShader)", async () => {
    await withChromium(browserOptions, async ({ page, consoleMessages: errors }) => {
      await page.goto(`${isolated.url}demo`, { waitUntil: "load" });
      const run = await runDemo(page, {
        backend: "gpu",
        steps: 3,
        seeds: 1,
        sequenceLength: 12,
        newTokens: 6,
      });
      expectComparison(run, 3, 1);
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
