/**
 * The browser side of `webgpu-browser.test.ts`: stories260K (served beside the page) generates greedily and
 * takes one LoRA training step on the backend Node asks for, through the public APIs only — `setBackend`,
 * `createModel`, `generate`, `LoraModel`, `train` — and returns what Node compares across backends. Every
 * read the loops make is awaited (`generate` and `train` read through the asynchronous path), so the same
 * code runs on `webgpu`, whose reads are asynchronous only.
 */

import { createLoraConfig, LoraModel } from "@peftjs/adapters";
import { deserialize } from "@peftjs/io";
import { AdamW, createModel, generate, train } from "@peftjs/models";
import { getBackend, setBackend } from "@peftjs/tensor";

/** What one run returns to Node. */
export interface BackendRun {
  /** The backend that was active during the run. */
  readonly backend: string;
  /** The greedy continuation of the prompt. */
  readonly generated: number[];
  /** The loss before the training step, and the gradients' total L2 norm. */
  readonly loss: number;
  readonly gradientNorm: number;
  /** The LoRA parameters after the step, by PEFT file key. */
  readonly parameters: Record<string, number[]>;
  /** Wall time of generation and of the training step, in milliseconds. */
  readonly generateMs: number;
  readonly trainMs: number;
}

/** The run's fixed inputs: the reference story's first tokens, as `tok512.bin` encodes "Once upon a time". */
const prompt = [1, 403, 407, 261, 378];
const batch = { inputIds: [[1, 403, 407, 261, 378, 432, 383, 286]] };

async function fetchBytes(path: string): Promise<Uint8Array> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function run(backend: string, newTokens: number): Promise<BackendRun> {
  await setBackend(backend);
  const config = JSON.parse(new TextDecoder().decode(await fetchBytes("./stories260k/config.json")));
  const weights = deserialize(await fetchBytes("./stories260k/model.safetensors")).tensors;
  const model = createModel(config, weights);
  try {
    let started = performance.now();
    const generated = await generate(model, prompt, { maxNewTokens: newTokens, stopTokens: [] });
    const generateMs = performance.now() - started;
    const lora = LoraModel.create(model);
    // Gaussian init: lora_B starts non-zero, so the step's gradients reach both factors.
    lora.addAdapter(
      "default",
      createLoraConfig({
        r: 4,
        lora_alpha: 8,
        target_modules: ["q_proj", "v_proj"],
        init_lora_weights: "gaussian",
      }),
    );
    const reports: { loss: number; gradientNorm: number }[] = [];
    started = performance.now();
    await train({
      model,
      trainable: lora.trainable,
      optimizer: new AdamW({ learningRate: 5e-3 }),
      batches: [batch],
      steps: 1,
      onStep: (report) => {
        reports.push(report);
      },
    });
    const trainMs = performance.now() - started;
    const parameters: Record<string, number[]> = {};
    for (const [name, value] of lora.trainableParameters()) {
      parameters[name] = Array.from(await value.toFloat32ArrayAsync());
    }
    return {
      backend: getBackend(),
      generated,
      loss: reports[0]!.loss,
      gradientNorm: reports[0]!.gradientNorm,
      parameters,
      generateMs,
      trainMs,
    };
  } finally {
    model.dispose();
  }
}

const steps = { run };
export type WebGpuSteps = typeof steps;
(window as unknown as { peftjsWebGpu: WebGpuSteps }).peftjsWebGpu = steps;
