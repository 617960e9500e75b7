/**
 * What each guide sample must print: the claims the page makes, checked on the sample's output so that the
 * samples themselves read as samples (they print; they do not assert). Keyed by page and the sample's position
 * on it (`guide/hazard.md#2` is the second ```ts block of that page): moving or adding a sample shows up as a
 * missing or unmatched key in samples.test.ts. Tolerances are those the pages state (float32 rounding of
 * logits near 20: 1e-3; the fixture's observed differences are ~1e-5).
 */
import { expect } from "vitest";

/** The key of the `ordinal`-th (1-based) ```ts sample of `page`. */
export function sampleKey(page: string, ordinal: number): string {
  return `${page}#${ordinal}`;
}

/** Lines of the output, for matching. */
const lines = (output: string) => output.split("\n");

/**
 * The number printed after `label` on the first line that has it (and starts with `prefix`, when given), e.g.
 * "largest logit difference: 9.54e-6" → 9.54e-6.
 */
function numberAfter(output: string, label: string, prefix = ""): number {
  const line = lines(output).find((entry) => entry.startsWith(prefix) && entry.includes(label));
  expect(line, `a line with "${label}"`).toBeDefined();
  const match = new RegExp(
    `${label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*(-?[\\d.]+(?:e[-+]?\\d+)?)`,
  ).exec(line!);
  expect(match, line).not.toBeNull();
  return Number(match![1]);
}

/** Every listed line is printed, exactly. */
const prints = (output: string, ...expected: string[]) => {
  for (const line of expected) expect(lines(output), line).toContain(line);
};

const modelFingerprint = "fp1:7438212e98c9a5a22ef17b946af3130a";

export const sampleChecks: Record<string, (output: string) => void> = {
  "index.md#1": (output) => {
    const [first, last] = /^loss ([\d.]+) → ([\d.]+)$/m.exec(output)!.slice(1).map(Number);
    expect(last!).toBeLessThan(first!);
  },
  "guide/embeddings-and-tokens.md#1": (output) => {
    prints(
      output,
      "base_model.model.model.embed_tokens.lora_embedding_A",
      "base_model.model.model.embed_tokens.lora_embedding_B",
      "unmerge restores bit for bit: true",
      "disabled is the base: true",
    );
    // PEFT's tied head: the merge reaches the output, the unmerged adapter does not (13.4 on its fixture)
    expect(numberAfter(output, "merged vs unmerged:")).toBeGreaterThan(1);
  },
  "guide/embeddings-and-tokens.md#2": (output) => {
    prints(
      output,
      "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta",
      "rows moved: 300=true 261=true",
      "base unchanged: true",
    );
    const [first, last] = /^loss ([\d.]+) → ([\d.]+)$/m.exec(output)!.slice(1).map(Number);
    expect(last!).toBeLessThan(first!);
  },
  "guide/embeddings-and-tokens.md#3": (output) => {
    prints(output, "base_model.model.lm_head.weight", "tied embedding untouched: true");
    const [first, last] = /^loss ([\d.]+) → ([\d.]+)$/m.exec(output)!.slice(1).map(Number);
    expect(last!).toBeLessThan(first!);
  },
  "guide/getting-started.md#1": (output) => {
    expect(output).toMatch(/^Once upon a time/);
    const losses = lines(output)
      .find((line) => line.includes(" → "))!
      .split(" → ")
      .map(Number);
    expect(losses).toHaveLength(10);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    prints(output, "4 10 modules");
  },
  "guide/getting-started.md#2": (output) => {
    const losses = [...output.matchAll(/^step \d: loss ([\d.]+)$/gm)].map((match) => Number(match[1]));
    expect(losses).toHaveLength(5);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    expect(output).toMatch(/^adapter_config\.json: \d+ bytes, adapter_model\.safetensors: \d+ bytes$/m);
  },
  "guide/adapters.md#1": (output) => {
    prints(output, "reads back unchanged: true", "defaults: 8 8 0 true none");
    expect(output).toMatch(/^LORA 0\.21\.\d+ \d+ fields$/m);
    expect(output).toMatch(/^true use_qalora = true asks for QALoRA/m);
  },
  "guide/peft-features.md#1": (output) => {
    prints(
      output,
      "fresh adapter = base model: true",
      "10 magnitude vectors train with A and B, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
      "unmerged bit for bit: true",
      "disabled = base model: true",
      "reloaded elsewhere, same logits: true",
    );
    const [first, last] = /^loss ([\d.]+) → ([\d.]+)$/m.exec(output)!.slice(1).map(Number);
    expect(last!).toBeLessThan(first!);
    expect(numberAfter(output, "merged vs unmerged, largest logit difference:")).toBeLessThan(1e-3);
  },
  "guide/peft-features.md#2": (output) => {
    prints(
      output,
      "10 trainable biases, e.g. base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias",
      "bias tensors in the adapter file: 10",
      "trained bias moved: true",
      "base bias still zero: true",
      "disabled = base model: true",
      "unloaded = base model: true",
    );
  },
  "guide/adapters.md#2": (output) => {
    prints(
      output,
      "model.layers.0.self_attn.q_proj lora_A [ 8, 64 ] lora_B [ 64, 8 ]",
      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight pt",
      "saved and loaded again, bit for bit: true",
    );
  },
  "guide/adapters.md#3": (output) => {
    expect(output).toMatch(/^lora false fp1:[0-9a-f]{32}$/m);
    prints(output, "disabled: true", "unmerged: 0 true", "10 layers merged, 10 journal entries");
    expect(output).toMatch(
      /^40 trainable tensors, e\.g\. base_model\.model\.model\.layers\.0\..*lora_A\.a\.weight$/m,
    );
    expect(numberAfter(output, "largest logit difference:")).toBeLessThan(1e-3);
  },
  "guide/adapters.md#4": (output) => {
    expect(output).toMatch(/^converted: r 16, α 16; recompressed: error /m);
    expect(numberAfter(output, "cat: r 16, error")).toBeLessThan(1e-5);
    // svd is the best rank-8 approximation: it beats linear's cross terms.
    expect(numberAfter(output, "svd: r 8, error")).toBeLessThan(numberAfter(output, "linear: r 8, error"));
  },
  "guide/backends.md#1": (output) => {
    expect(output).toMatch(/does not count as a GPU|do not count as a GPU/);
    expect(output).toMatch(/^wasm WebAssembly SIMD kernels/m);
    prints(output, "1.00000 1.00000 1.00000 1.00000");
  },
  "guide/backends.md#2": (output) => {
    prints(output, "read with await on wasm: row sums 1.00000 1.00000");
  },
  "guide/concepts.md#1": (output) => {
    for (const init of ["pissa", "olora"])
      expect(numberAfter(output, `${init}: largest logit change at init`)).toBeLessThan(1e-3);
    prints(output, "base weights untouched: true");
  },
  "guide/convert-pissa.md#1": (output) => {
    prints(output, "pissa 8", "overlay", "16 16 true");
    expect(numberAfter(output, "largest logit difference:")).toBeLessThan(1e-3);
    expect(output).toMatch(/^rank 8, relative error /m);
  },
  "guide/fine-tune-hub-model.md#1": (output) => {
    expect(output).toMatch(/^\d+ training and \d+ held-out sequences of 32 tokens$/m);
    expect(output).toMatch(/^step 30: training loss [\d.]+$/m);
    const [trainedFirst, trainedLast] = /^training loss ([\d.]+) → ([\d.]+)$/m
      .exec(output)!
      .slice(1)
      .map(Number);
    expect(trainedLast!).toBeLessThan(trainedFirst!);
    // A random model over 2,008 tokens starts near ln 2008 ≈ 7.6, as the page says.
    const [before, after] = /^held-out loss ([\d.]+) → ([\d.]+)$/m.exec(output)!.slice(1).map(Number);
    expect(Math.abs(before! - Math.log(2008))).toBeLessThan(0.5);
    expect(after!).toBeLessThan(before!);
    prints(output, "saved ./my-adapter");
  },
  "guide/hazard.md#1": (output) => {
    prints(
      output,
      "the LoRA's logits are bit-identical: true",
      "overlay journal entries: 0",
      "base weights changed: 0",
      "disabled is the original: true",
    );
  },
  "guide/hazard.md#2": (output) => {
    expect(output).toMatch(/^true residual mode for "pissa" would rewrite base weights/m);
    prints(output, "20 weights rewritten, 20 warnings");
    // Guard off reproduces PEFT's wrong output: the fixture's LoRA logits move by up to 15.8 there.
    expect(numberAfter(output, "the LoRA's logits moved by up to")).toBeGreaterThan(10);
  },
  "guide/many-adapters.md#1": (output) => {
    prints(output, "... so the LoRA adapter gives the same output: true");
    expect(output).toMatch(/^AdapterLoadError: residual mode for "residual"/m);
    expect(numberAfter(output, "two adapters move the logits by up to")).toBeGreaterThan(0.1);
    expect(output).toMatch(/^left: \[ 'tales', 'pissa' \] base untouched: true$/m);
  },
  "guide/many-adapters.md#2": (output) => {
    // A mixed batch gives each row what it gets alone (measured 0; the fixture README's bound is 1e-5).
    expect(numberAfter(output, "largest difference to each row run alone:")).toBeLessThanOrEqual(1e-5);
    prints(
      output,
      "each row generates what its adapter generates alone: true",
      "true unknown",
      "after the hot-swap, tales = poems: true",
      "modules rebuilt: 0",
    );
    // the three rows really differ, so the claims above can fail
    const generated = ["tales", "__base__", "poems"].map(
      (name) => lines(output).find((line) => line.startsWith(`${name} `))!,
    );
    expect(new Set(generated.map((line) => line.split(" ").slice(1).join(" "))).size).toBe(3);
  },
  "guide/merging.md#1": (output) => {
    expect(numberAfter(output, "merged; differs from unmerged by")).toBeLessThan(1e-3);
    prints(output, "unmerged, differs by 0", "10 layers merged; journal:", "restored the original: true");
    expect(numberAfter(output, "merged model vs adapter:")).toBeLessThan(1e-3);
  },
  "guide/merging.md#2": (output) => {
    // The combination section's sample (every add_weighted_adapter type): cat exact, ties far from Σ w·s·B·A.
    expect(numberAfter(output, "error vs Σ w·s·B·A", "cat")).toBeLessThan(1e-5);
    expect(numberAfter(output, "error vs Σ w·s·B·A", "ties ")).toBeGreaterThan(0.1);
  },
  "guide/performance.md#1": (output) => {
    expect(output).toMatch(/^wasm WebAssembly SIMD kernels/m);
  },
  "guide/performance.md#2": (output) => {
    expect(output).toMatch(/ on 2 threads$/m);
  },
  "guide/state.md#1": (output) => {
    prints(output, "the store kept its bytes: true", "true", `[ 64, 64 ] ${modelFingerprint}`);
  },
  "guide/state.md#2": (output) => {
    prints(
      output,
      "1 1 [ 'model.layers.0.self_attn.q_proj.weight' ]",
      "the model's fingerprint changed: true",
      "true true",
      "unchanged: true",
    );
    const before = /fingerprintBefore: '(fp1:[0-9a-f]+)'/.exec(output)![1];
    const after = /fingerprintAfter: '(fp1:[0-9a-f]+)'/.exec(output)![1];
    expect(after).not.toBe(before);
  },
  "guide/state.md#3": (output) => {
    prints(output, "base unchanged: true", "restored: true", "[ 'mutate', 'restore' ]");
  },
  "guide/guarantees.md#1": (output) => {
    prints(output, `base ${modelFingerprint}`, "refused adapter_too_large r 1000000000", "adapters 0");
  },
  "guide/state.md#4": (output) => {
    prints(output, "original true", `pt ${modelFingerprint}`);
  },
  "guide/state.md#5": (output) => {
    prints(output, "pissa true 20", "the shared base is untouched: true");
  },
};
