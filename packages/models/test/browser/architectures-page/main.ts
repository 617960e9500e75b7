/**
 * The browser side of `architectures-browser.test.ts`: fetches a fixture model folder served beside the page
 * (`models/<name>/`), builds it on a backend, and reports its error against transformers' reference logits
 * and its KV-cache greedy ids, on `window.peftjsArchitectures` for the Node side to call through playwright.
 */
import { deserialize, toFloat32 } from "@peftjs/io";
import { createModel, generate } from "@peftjs/models";
import { getBackend, setBackend } from "@peftjs/tensor";

/** What one run returns to Node. */
export interface ArchitectureRun {
  readonly backend: string;
  readonly modelType: string;
  readonly logitsError: number;
  readonly greedyLogitsError: number;
  readonly greedy: number[];
  readonly expectedGreedy: number[];
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function rows(values: ArrayLike<number>, shape: readonly number[]): number[][] {
  const [count, length] = shape as [number, number];
  const flat = Array.from(values);
  return Array.from({ length: count }, (_, row) => flat.slice(row * length, (row + 1) * length));
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length} differ`);
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}

const architectures = {
  async run(name: string, backend: string): Promise<ArchitectureRun> {
    await setBackend(backend as Parameters<typeof setBackend>[0]);
    const folder = `./models/${name}/`;
    const config = JSON.parse(new TextDecoder().decode(await fetchBytes(`${folder}config.json`)));
    const reference = JSON.parse(new TextDecoder().decode(await fetchBytes(`${folder}reference.json`)));
    const weights = deserialize(await fetchBytes(`${folder}model.safetensors`)).tensors;
    const tensors = deserialize(await fetchBytes(`${folder}reference.safetensors`)).tensors;
    const model = createModel(config, weights);
    const errorOf = (idsKey: string, logitsKey: string) => {
      const ids = tensors.get(idsKey)!;
      const logits = model.forward(rows(toFloat32(ids), ids.shape));
      const error = maxAbs(logits.toFloat32Array(), toFloat32(tensors.get(logitsKey)!));
      logits.dispose();
      return error;
    };
    const logitsError = errorOf("input_ids", "logits");
    const greedyLogitsError = errorOf("greedy_input_ids", "greedy_logits");
    const greedy = await generate(model, reference.prompt, { maxNewTokens: 24, stopTokens: [] });
    const run = {
      backend: getBackend(),
      modelType: model.config.modelType,
      logitsError,
      greedyLogitsError,
      greedy,
      expectedGreedy: reference.greedy,
    };
    model.dispose();
    await setBackend("js");
    return run;
  },
};

(globalThis as { peftjsArchitectures?: typeof architectures }).peftjsArchitectures = architectures;
