import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Matrix, maxAbsDifference, multiply, readCombinationRecord } from "@peftjs/adapters";
import { loadPeftAdapter } from "@peftjs/adapters/node";
import { toFloat32 } from "@peftjs/io";
import { readSafetensorsFile } from "@peftjs/io/node";
import { afterAll, describe, expect, it } from "vitest";

// End-to-end tests of `peftjs combine` (the built CLI, `node dist/cli.js`: run `pnpm build` first) on the PEFT
// fixtures in test/fixtures/peft (adapter a = lora_default, b = combine_more's b; see
// test/fixtures/peft/combine_more/README.md). Deltas are compared with PEFT's at 1e-6 abs (the fixture README's
// tolerance for deterministic combinations; PEFT vs a float64 re-implementation: ≤ 8.6e-8).

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const fixture = (path: string) => fileURLToPath(new URL(`./fixtures/peft/${path}`, import.meta.url));
const adapterA = fixture("lora_default/adapter_trained");
const adapterB = fixture("combine_more/adapter_b_trained");
const work = mkdtempSync(join(tmpdir(), "peftjs-combine-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function peftjs(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", PEFTJS_DEBUG: "" },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `peftjs combine` of a (0.7) and b (0.3) with `args`, `--out out --json`; must succeed. */
function combine(out: string, ...args: string[]): Record<string, unknown> {
  const result = peftjs(
    "combine",
    "--adapter",
    `${adapterA}:0.7`,
    "--adapter",
    `${adapterB}:0.3`,
    ...args,
    "--out",
    out,
    "--json",
  );
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** Exit 1, one line `peftjs combine: <Name>Error: …` matching `pattern`, nothing left at `out`. */
function expectRefused(out: string, args: string[], pattern: RegExp): void {
  const result = peftjs(
    "combine",
    "--adapter",
    `${adapterA}:0.7`,
    "--adapter",
    `${adapterB}:0.3`,
    ...args,
    "--out",
    out,
  );
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^peftjs combine: \w+Error: /);
  expect(lines[0]).toMatch(pattern);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dirname(out)).filter((entry) => entry.startsWith(`.${basename(out)}.`))).toEqual([]);
}

/** max |B'·A' − PEFT's deltas| over modules (the combined adapter has scaling 1). */
async function maxDeltaDifference(folder: string, deltasFile: string): Promise<number> {
  const adapter = await loadPeftAdapter(folder);
  const { tensors } = await readSafetensorsFile(fixture(deltasFile));
  expect(adapter.modules.size).toBe(tensors.size);
  let max = 0;
  for (const [name, { loraA, loraB }] of adapter.modules) {
    const raw = tensors.get(name);
    expect(raw).toBeDefined();
    const expected: Matrix = {
      rows: raw?.shape[0] as number,
      columns: raw?.shape[1] as number,
      data: toFloat32(raw as never),
    };
    max = Math.max(max, maxAbsDifference(multiply(loraB, loraA), expected));
  }
  return max;
}

describe("peftjs combine: the PEFT 0.21 methods", () => {
  it("ties reproduces PEFT's deltas and reports method, density, sign election and error", async () => {
    const out = join(work, "ties");
    const report = combine(out, "--method", "ties", "--density", "0.5", "--majority-sign", "total");
    expect(report).toMatchObject({
      method: "ties",
      appliedMethod: "ties",
      rank: 8,
      density: 0.5,
      majoritySign: "total",
      randomPruning: null,
      notes: [],
    });
    // PEFT: 0.879 max per-module relative error against Σ wᵢ·ΔWᵢ (ties acts on the factors)
    expect(report.maxRelativeError).toBeCloseTo(0.8787, 3);
    expect(await maxDeltaDifference(out, "combine_more/deltas_ties.safetensors")).toBeLessThan(1e-6);
    const adapter = await loadPeftAdapter(out);
    expect(adapter.config.lora_alpha).toBe(8);
    expect(readCombinationRecord(adapter.metadata)).toMatchObject({ type: "ties", density: 0.5 });
  });

  it("ties_svd reproduces PEFT's deltas (default rank 8)", async () => {
    const out = join(work, "ties-svd");
    const report = combine(out, "--method", "ties_svd", "--density", "0.5");
    expect(report.rank).toBe(8);
    expect(await maxDeltaDifference(out, "combine_more/deltas_ties_svd.safetensors")).toBeLessThan(1e-6);
  });

  it("dare_ties: seeded masks, recorded seed and keep fraction; the same seed writes the same file", async () => {
    const first = combine(
      join(work, "dare-1"),
      "--method",
      "dare_ties",
      "--density",
      "0.5",
      "--seed",
      "1234",
    );
    const second = combine(
      join(work, "dare-2"),
      "--method",
      "dare_ties",
      "--density",
      "0.5",
      "--seed",
      "1234",
    );
    const other = combine(join(work, "dare-3"), "--method", "dare_ties", "--density", "0.5", "--seed", "7");
    const statistics = first.randomPruning as { seed: number; keptElements: number; totalElements: number };
    expect(statistics.seed).toBe(1234);
    expect(statistics.totalElements).toBe(17920);
    // Bernoulli(0.5) over 17920 draws: within 5σ = 0.019 of 0.5
    expect(Math.abs(statistics.keptElements / statistics.totalElements - 0.5)).toBeLessThan(0.019);
    const bytes = (name: string) => readFileSync(join(work, name, "adapter_model.safetensors"));
    expect(bytes("dare-2").equals(bytes("dare-1"))).toBe(true);
    expect(bytes("dare-3").equals(bytes("dare-1"))).toBe(false);
    expect((other.randomPruning as { seed: number }).seed).toBe(7);
    const adapter = await loadPeftAdapter(join(work, "dare-1"));
    expect(readCombinationRecord(adapter.metadata)).toMatchObject({ type: "dare_ties", seed: 1234 });
    expect(second.maxRelativeError).toBe(first.maxRelativeError);
  });

  it("prints the DARE statistics and notes in text mode", () => {
    const result = peftjs(
      "combine",
      "--adapter",
      `${adapterA}:0.7`,
      "--adapter",
      `${adapterB}:0.3`,
      "--method",
      "dare_linear",
      "--density",
      "1",
      "--out",
      join(work, "dare-density-1"),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/note: density 1 keeps every element/);
    expect(result.stdout).toMatch(/combined 2 adapters \(dare_linear, density 1, rank 8\)/);
    const seeded = peftjs(
      "combine",
      "--adapter",
      `${adapterA}:0.7`,
      "--adapter",
      `${adapterB}:0.3`,
      "--method",
      "dare_linear_svd",
      "--density",
      "0.25",
      "--seed",
      "3",
      "--out",
      join(work, "dare-svd"),
    );
    expect(seeded.code, seeded.stderr).toBe(0);
    expect(seeded.stdout).toMatch(/DARE masks: kept \d+ of 61440 elements \(2\d\.\d %\), seed 3/);
  });
});

describe("peftjs combine --rank: clamped to what the deltas can carry (issue 13)", () => {
  it("svd --rank 100000 writes a rank-16 adapter (not 2.3 GB of zero padding) and says so", async () => {
    const out = join(work, "svd-huge");
    const report = combine(out, "--method", "svd", "--rank", "100000");
    expect(report.rank).toBe(16);
    expect(report.notes).toEqual([
      "svd_rank 100000 exceeds the largest rank the merged deltas can have (16): the result has rank 16, not 99984 extra all-zero components",
    ]);
    // rank Σrᵢ = 16 carries the exact weighted sum
    expect(report.maxRelativeError as number).toBeLessThan(1e-5);
    expect(statSync(join(out, "adapter_model.safetensors")).size).toBeLessThan(200_000);
    const text = peftjs(
      "combine",
      "--adapter",
      `${adapterA}:0.7`,
      "--adapter",
      `${adapterB}:0.3`,
      "--method",
      "svd",
      "--rank",
      "100000",
      "--out",
      join(work, "svd-huge-text"),
    );
    expect(text.stdout).toMatch(/^note: svd_rank 100000 exceeds/);
  });

  it("a single adapter is combined with linear, as PEFT, with a note", () => {
    const result = peftjs(
      "combine",
      "--adapter",
      `${adapterA}:0.5`,
      "--method",
      "ties",
      "--density",
      "0.3",
      "--out",
      join(work, "single"),
      "--json",
    );
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.appliedMethod).toBe("linear");
    expect(report.notes[0]).toMatch(/single adapter is combined with linear/);
    expect(report.maxRelativeError).toBeLessThan(1e-6);
  });
});

describe("peftjs combine: refused before any work, with exit 1 and nothing written", () => {
  const out = join(work, "refused");
  it.each([
    [["--method", "ties"], /--method ties needs --density D in \(0, 1\]/],
    [["--method", "dare_linear", "--density", "0"], /--density 0 is outside \(0, 1\]/],
    [["--method", "ties", "--density", "1.01"], /--density 1.01 is outside \(0, 1\]/],
    [["--method", "ties", "--density", "NaN"], /--density NaN is not a number/],
    [["--method", "cat", "--density", "0.5"], /--density applies to ties, .* not to --method cat/],
    [
      ["--method", "dare_linear", "--density", "0.5", "--majority-sign", "total"],
      /--majority-sign applies to ties, ties_svd, dare_ties, dare_ties_svd, not to --method dare_linear/,
    ],
    [
      ["--method", "ties", "--density", "0.5", "--majority-sign", "median"],
      /--majority-sign median is not one of total, frequency/,
    ],
    [
      ["--method", "ties", "--density", "0.5", "--seed", "3"],
      /--seed applies to the random methods dare_linear, dare_ties, dare_linear_svd, dare_ties_svd/,
    ],
    [["--method", "dare_ties", "--density", "0.5", "--seed", "1.5"], /--seed 1.5 is not an integer/],
    [["--method", "linear", "--rank", "4"], /--rank applies to svd, ties_svd, .* not to --method linear/],
    [["--method", "svd", "--rank", "0"], /--rank 0 must be at least 1/],
    [
      ["--method", "tie"],
      /--method tie is not one of cat, linear, svd, ties, ties_svd, dare_linear, dare_ties, dare_linear_svd, dare_ties_svd, magnitude_prune, magnitude_prune_svd/,
    ],
  ] as [string[], RegExp][])("%j", (args, pattern) => {
    expectRefused(out, args, pattern);
  });

  it("refuses adapters of different ranks for the factor-level methods", () => {
    const pissaConverted = fixture("pissa/adapter_converted"); // r 16
    const result = peftjs(
      "combine",
      "--adapter",
      `${adapterA}:0.5`,
      "--adapter",
      `${pissaConverted}:0.5`,
      "--method",
      "dare_linear",
      "--density",
      "0.5",
      "--out",
      out,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^peftjs combine: AdapterCombinationError: dare_linear combines the factors elementwise and needs all adapters to have the same rank, got ranks \[8,16\]/,
    );
    expect(existsSync(out)).toBe(false);
  });
});
