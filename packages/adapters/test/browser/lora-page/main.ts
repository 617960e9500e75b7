/**
 * The browser side of `hf-lora-browser.test.ts`: fetches a fixture model folder and its PEFT LoRA case served
 * beside the page (`hf/<name>/`), and reports on a backend how far PEFT's trained adapter, the merged model and
 * 5 AdamW steps from `adapter_init` land from PEFT's numbers, on `window.peftjsLora` for the Node side.
 */

import { decodePeftAdapter, LoraModel } from "@peftjs/adapters";
import { deserialize, fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import { AdamW, type CausalLM, causalLanguageModelLoss, createModel, train } from "@peftjs/models";
import { getBackend, setBackend, valueAndGradients } from "@peftjs/tensor";

/** What one run returns to Node. */
export interface LoraRun {
  readonly backend: string;
  readonly trainedError: number;
  readonly mergedError: number;
  /** max over parameters of max|ours − PEFT's| / max|PEFT's| for the step-0 gradients. */
  readonly gradientError: number;
  readonly losses: number[];
  readonly expectedLosses: number[];
  readonly trainingLogitsError: number;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function fetchJson<T>(url: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await fetchBytes(url))) as T;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length} differ`);
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}

function logitsOf(model: CausalLM, inputIds: number[][]): Float32Array {
  const logits = model.forward(inputIds);
  const values = logits.toFloat32Array();
  logits.dispose();
  return values;
}

const lora = {
  async run(name: string, backend: string): Promise<LoraRun> {
    await setBackend(backend as Parameters<typeof setBackend>[0]);
    const folder = `./hf/${name}/`;
    const config = await fetchJson<unknown>(`${folder}config.json`);
    const stored = deserialize(await fetchBytes(`${folder}model.safetensors`)).tensors;
    // PEFT's run loaded the base with dtype=float32 (Qwen3's bf16 file upcast).
    const weights = new Map<string, RawTensor>();
    for (const [key, raw] of stored) {
      weights.set(key, { dtype: "F32", shape: raw.shape, data: fromFloat32(toFloat32(raw), "F32") });
    }
    const adapter = async (which: string) =>
      decodePeftAdapter(
        await fetchJson(`${folder}peft_lora/${which}/adapter_config.json`),
        await fetchBytes(`${folder}peft_lora/${which}/adapter_model.safetensors`),
      );
    const caseJson = await fetchJson<{ training: { input_ids: number[][]; losses: number[] } }>(
      `${folder}peft_lora/case.json`,
    );
    const reference = deserialize(await fetchBytes(`${folder}peft_lora/logits.safetensors`)).tensors;
    const inputIds = caseJson.training.input_ids;

    const model = createModel(config, weights);
    const trainedModel = LoraModel.create(model);
    trainedModel.loadAdapter("default", await adapter("adapter_trained"));
    const trainedError = maxAbs(logitsOf(model, inputIds), toFloat32(reference.get("trained")!));
    trainedModel.merge();
    const mergedError = maxAbs(logitsOf(model, inputIds), toFloat32(reference.get("merged")!));
    model.dispose();

    const fresh = createModel(config, weights);
    const training = LoraModel.create(fresh);
    training.loadAdapter("default", await adapter("adapter_init"));
    const expectedGradients = deserialize(
      await fetchBytes(`${folder}peft_lora/grads_step0.safetensors`),
    ).tensors;
    const { value, gradients } = valueAndGradients(
      () => causalLanguageModelLoss(fresh.forward(inputIds), inputIds),
      training.trainableParameters(),
    );
    value.dispose();
    let gradientError = 0;
    for (const [key, raw] of expectedGradients) {
      const expected = toFloat32(raw);
      const gradient = gradients.get(key);
      if (gradient === undefined) throw new Error(`no gradient for ${key}`);
      const largest = expected.reduce((worst, entry) => Math.max(worst, Math.abs(entry)), 0);
      // lora_A's step-0 gradients are exactly 0 (B = 0 at init), PEFT's and ours alike.
      const error = maxAbs(gradient.toFloat32Array(), expected);
      gradientError = Math.max(gradientError, error === 0 ? 0 : error / largest);
      gradient.dispose();
    }
    const optimizer = new AdamW({ learningRate: 1e-2, eps: 1e-6 });
    const { losses } = await train({
      model: fresh,
      trainable: training.trainable,
      optimizer,
      batches: [{ inputIds }],
      steps: 5,
    });
    optimizer.dispose();
    const trainingLogitsError = maxAbs(logitsOf(fresh, inputIds), toFloat32(reference.get("trained")!));
    fresh.dispose();
    const run = {
      backend: getBackend(),
      trainedError,
      mergedError,
      gradientError,
      losses,
      expectedLosses: caseJson.training.losses,
      trainingLogitsError,
    };
    await setBackend("js");
    return run;
  },
};

(globalThis as { peftjsLora?: typeof lora }).peftjsLora = lora;
