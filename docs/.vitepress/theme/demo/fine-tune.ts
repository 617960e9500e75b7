/**
 * The in-browser demo's work, without the user interface: load stories260K over HTTP, put a LoRA or PiSSA
 * adapter on it, fine-tune it step by step on a chosen backend, generate before and after, and pack the
 * adapter as a PEFT folder in a zip. Imported lazily by the demo component, so other pages never load it.
 */
import {
  convertToLora,
  createLoraConfig,
  encodePeftAdapter,
  type LoraAdapter,
  LoraModel,
} from "@peftjs/adapters";
import {
  AdamW,
  generate,
  Llama2cTokenizer,
  type LlamaForCausalLM,
  loadLlamaFromUrl,
  train,
} from "@peftjs/models";
import { backendStatus, setBackend, type Tensor } from "@peftjs/tensor";
import { createZip } from "./zip.js";

/** The backends the demo offers. */
export type DemoBackend = "gpu" | "wasm" | "js";

/** The adapter methods the demo offers. */
export type DemoMethod = "lora" | "pissa";

/** What one fine-tuning run uses. */
export interface DemoSettings {
  readonly backend: DemoBackend;
  readonly method: DemoMethod;
  readonly steps: number;
  readonly rank: number;
  readonly learningRate: number;
  /** The training text; its first `sequenceLength` tokens (after BOS) are the one training sequence. */
  readonly text: string;
  readonly sequenceLength: number;
  /** The generation prompt (greedy, before and after training). */
  readonly prompt: string;
  readonly newTokens: number;
}

/** Progress of a run, for the user interface. */
export interface DemoProgress {
  /** What is happening now. */
  readonly phase: string;
  /** Losses so far, one per step. */
  readonly losses: readonly number[];
}

/** The outcome of {@link runFineTuning}. */
export interface DemoResult {
  readonly backend: string;
  readonly backendReason: string;
  readonly losses: readonly number[];
  readonly before: string;
  readonly after: string;
  /** The zip of the adapter folder. */
  readonly zip: Uint8Array;
  /** The zip's file name, e.g. `peftjs-pissa-adapter.zip`. */
  readonly zipName: string;
  /** What the zip holds, in words. */
  readonly zipDescription: string;
  readonly milliseconds: number;
}

const nextFrame = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

let tokenizerPromise: Promise<Llama2cTokenizer> | undefined;

async function loadTokenizer(modelUrl: string): Promise<Llama2cTokenizer> {
  tokenizerPromise ??= fetch(new URL("tok512.bin", modelUrl)).then(async (response) => {
    if (!response.ok) throw new Error(`${response.url} answered with status ${response.status}`);
    return Llama2cTokenizer.fromBytes(new Uint8Array(await response.arrayBuffer()));
  });
  return tokenizerPromise;
}

function story(model: LlamaForCausalLM, tokenizer: Llama2cTokenizer, settings: DemoSettings): string {
  const prompt = tokenizer.encode(settings.prompt, { bos: true });
  const generated = generate(model, prompt, { maxNewTokens: settings.newTokens });
  return tokenizer.decodeAll([...prompt, ...generated]);
}

/** The adapter folder as zip entries: PiSSA is converted to a plain rank-2r LoRA for the untouched base. */
function adapterZip(
  method: DemoMethod,
  trained: LoraAdapter,
  initial: LoraAdapter,
): Omit<DemoResult, "backend" | "backendReason" | "losses" | "before" | "after" | "milliseconds"> {
  const adapter = method === "pissa" ? convertToLora(trained, initial) : trained;
  const { configText, weights } = encodePeftAdapter(adapter);
  const folder = `peftjs-${method}-adapter`;
  const zip = createZip([
    { path: `${folder}/adapter_config.json`, data: new TextEncoder().encode(configText) },
    { path: `${folder}/adapter_model.safetensors`, data: weights },
  ]);
  const zipDescription =
    method === "pissa"
      ? `PEFT adapter folder ${folder}/: the trained PiSSA adapter converted to plain LoRA (r = ${adapter.config.r}), for the original, untouched base`
      : `PEFT adapter folder ${folder}/: the trained LoRA adapter (r = ${adapter.config.r})`;
  return { zip, zipName: `${folder}.zip`, zipDescription };
}

/**
 * Runs one fine-tuning session: selects the backend, loads a fresh copy of the model from `modelUrl`, adds
 * the adapter, generates, trains `settings.steps` AdamW steps one at a time (yielding to the page between
 * steps so `onProgress` can redraw), generates again and zips the adapter.
 *
 * @throws BackendUnavailableError (from @peftjs/tensor) when the backend cannot run here, with its reason.
 */
export async function runFineTuning(
  modelUrl: string,
  settings: DemoSettings,
  onProgress: (progress: DemoProgress) => void,
): Promise<DemoResult> {
  const started = performance.now();
  const losses: number[] = [];
  onProgress({ phase: `starting the ${settings.backend} backend`, losses });
  await setBackend(settings.backend);
  const status = backendStatus();
  onProgress({ phase: "loading stories260K", losses });
  const [model, tokenizer] = await Promise.all([loadLlamaFromUrl(modelUrl), loadTokenizer(modelUrl)]);
  try {
    await nextFrame();
    onProgress({ phase: "generating with the base model", losses });
    await nextFrame();
    const before = story(model, tokenizer, settings);
    const lora = LoraModel.create(model);
    lora.addAdapter(
      "default",
      createLoraConfig({
        r: settings.rank,
        lora_alpha: 2 * settings.rank,
        target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights: settings.method === "pissa" ? "pissa" : true,
      }),
    );
    const initial = lora.getAdapter("default");
    const ids = tokenizer.encode(settings.text, { bos: true }).slice(0, settings.sequenceLength + 1);
    const optimizer = new AdamW({ learningRate: settings.learningRate, weightDecay: 0 });
    const trainable = {
      parameters: () => lora.trainableParameters(),
      setParameters: (updated: Map<string, Tensor>) => lora.setTrainableParameters(updated),
    };
    for (let step = 0; step < settings.steps; step++) {
      onProgress({ phase: `training: step ${step + 1} of ${settings.steps}`, losses });
      await nextFrame();
      const result = train({ model, trainable, optimizer, batches: [{ inputIds: [ids] }], steps: 1 });
      losses.push(result.losses[0] as number);
    }
    onProgress({ phase: "generating with the adapter", losses });
    await nextFrame();
    const after = story(model, tokenizer, settings);
    const packed = adapterZip(settings.method, lora.getAdapter("default"), initial);
    return {
      backend: status.active,
      backendReason: status.reason,
      losses,
      before,
      after,
      ...packed,
      milliseconds: performance.now() - started,
    };
  } finally {
    model.dispose();
  }
}
