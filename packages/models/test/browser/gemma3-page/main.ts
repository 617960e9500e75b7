/**
 * The browser side of `gemma3-browser.test.ts`: loads the Gemma 3 fixture (served beside the page under
 * `gemma3/`) with the browser's fetch on a named backend, compares its logits with transformers' and generates
 * the greedy continuation with the KV cache, reading everything back asynchronously (as `webgpu` requires).
 * Exposed on `window.peftjsGemma3` for the Node side to call through playwright.
 */
import { deserialize, toFloat32 } from "@peftjs/io";
import { argmaxIndex, type CausalLM, loadModelFromUrl } from "@peftjs/models";
import { listBackends, setBackend } from "@peftjs/tensor";

/** What one backend run returns to Node. */
export interface Gemma3BrowserReport {
  /** The backend the tensors ran on, and gpu.js's mode (`webgl2`, `webgpu`). */
  readonly backend: string;
  readonly mode: string | undefined;
  /** max |ours − transformers'| over the 2 × 24 batch's logits. */
  readonly logitsError: number;
  /** max |ours − transformers'| over the full forward of prompt + 24 greedy tokens. */
  readonly greedyLogitsError: number;
  /** The 24 greedy ids generated with the KV cache (prompt once, then one token per step). */
  readonly greedy: number[];
  /** transformers' 24 greedy ids. */
  readonly expectedGreedy: number[];
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Greedy decoding with the KV cache, read asynchronously at each step. (`generate()` reads its step logits
 * synchronously today, which `webgpu` refuses; this loop is the same algorithm with `await`.)
 */
async function greedyWithCache(model: CausalLM, prompt: readonly number[], count: number): Promise<number[]> {
  const cache = model.createCache(1);
  const tokens: number[] = [];
  let input = [...prompt];
  while (tokens.length < count) {
    const logits = model.forward([input], { cache });
    const values = await logits.toFloat32ArrayAsync();
    logits.dispose();
    const vocabSize = model.config.vocabSize;
    const token = argmaxIndex(values.subarray(values.length - vocabSize));
    tokens.push(token);
    input = [token];
  }
  cache.dispose();
  return tokens;
}

async function run(backend: string): Promise<Gemma3BrowserReport> {
  await setBackend(backend);
  const base = new URL("./gemma3/", location.href);
  const model = await loadModelFromUrl(base);
  const reference = deserialize(await fetchBytes(new URL("reference.safetensors", base))).tensors;
  const referenceJson = (await (await fetch(new URL("reference.json", base))).json()) as {
    prompt: number[];
    greedy: number[];
  };
  const rows = (key: string): number[][] => {
    const raw = reference.get(key)!;
    const [count, length] = raw.shape as [number, number];
    const values = Array.from(toFloat32(raw));
    return Array.from({ length: count }, (_, row) => values.slice(row * length, (row + 1) * length));
  };
  const maxError = async (idsKey: string, logitsKey: string): Promise<number> => {
    const logits = model.forward(rows(idsKey));
    const values = await logits.toFloat32ArrayAsync();
    logits.dispose();
    const expected = toFloat32(reference.get(logitsKey)!);
    if (values.length !== expected.length) throw new Error(`${logitsKey}: ${values.length} logits`);
    let worst = 0;
    for (let index = 0; index < values.length; index++) {
      worst = Math.max(worst, Math.abs(values[index]! - expected[index]!));
    }
    return worst;
  };
  const logitsError = await maxError("input_ids", "logits");
  const greedyLogitsError = await maxError("greedy_input_ids", "greedy_logits");
  const greedy = await greedyWithCache(model, referenceJson.prompt, 24);
  model.dispose();
  const info = listBackends().find((entry) => entry.name === backend);
  await setBackend("js");
  return {
    backend,
    mode: info?.availability?.details?.mode as string | undefined,
    logitsError,
    greedyLogitsError,
    greedy,
    expectedGreedy: referenceJson.greedy,
  };
}

(window as unknown as { peftjsGemma3: unknown }).peftjsGemma3 = { run };
