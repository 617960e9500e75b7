import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toFloat32 } from "@peftjs/io";
import { readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import { AdamW, type CausalLM, causalLanguageModelLoss, train } from "@peftjs/models";
import { loadModel } from "@peftjs/models/node";
import { getBackend, probeBackends, setBackend, valueAndGradients } from "@peftjs/tensor";
import { afterAll, describe, expect, it } from "vitest";
import { adapterDeltas, LoraModel } from "../src/index.js";
import { loadPeftAdapter, savePeftAdapter } from "../src/node.js";
import { logitsOf, maxAbs, type PeftLoraTraining, readPeftLoraCase } from "./model-helpers.js";

// PEFT's LoRA on transformers' Gemma 3 text model (gemma3_text: sliding/full layers, (1 + w) norms, q/k norms,
// scaled embeddings, tied head): all-linear (28 q/k/v/o/gate/up/down modules), gaussian init, r 8, alpha 16,
// 5 AdamW steps (fixtures/README.md, "hf/gemma3").
const {
  directory,
  training,
  logits: reference,
} = await readPeftLoraCase<PeftLoraTraining & { loss_after_training: number }>("gemma3");
const inputIds = training.input_ids;

const initialBackend = getBackend();
const available = (await probeBackends())
  .filter((info) => info.availability?.available === true)
  .map((info) => info.name);
afterAll(() => setBackend(initialBackend));

const scratch = await mkdtemp(join(tmpdir(), "peftjs-gemma3-"));
afterAll(() => rm(scratch, { recursive: true, force: true }));

async function adapted(
  folder: string,
  warnings: unknown[] = [],
): Promise<{ model: CausalLM; lora: LoraModel<CausalLM> }> {
  const model = await loadModel(directory, { weightStore: { warn: (warning) => warnings.push(warning) } });
  const lora = LoraModel.create(model);
  lora.loadAdapter("default", await loadPeftAdapter(`${directory}peft_lora/${folder}`));
  return { model, lora };
}

describe("PEFT's Gemma 3 adapter files", () => {
  it.each(["adapter_init", "adapter_trained"])(
    "%s loads onto gemma3_text and re-saves with PEFT's keys, bytes and config",
    async (folder) => {
      const source = `${directory}peft_lora/${folder}`;
      const adapter = await loadPeftAdapter(source);
      // all-linear on Gemma 3: the 7 projections of each of the 4 layers, never lm_head or the norms.
      expect(adapter.modules.size).toBe(28);
      const { model, lora } = await adapted(folder);
      expect(model.config.modelType).toBe("gemma3_text");
      expect(lora.trainableParameters().size).toBe(56);
      const target = join(scratch, folder);
      await savePeftAdapter(target, lora.getAdapter("default"));
      const original = await readSafetensorsFile(join(source, "adapter_model.safetensors"));
      const saved = await readSafetensorsFile(join(target, "adapter_model.safetensors"));
      expect([...saved.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
      for (const [key, raw] of original.tensors) {
        const copy = saved.tensors.get(key)!;
        expect(copy.dtype, key).toBe(raw.dtype);
        expect(copy.shape, key).toEqual(raw.shape);
        expect(Buffer.from(copy.data).equals(Buffer.from(raw.data)), key).toBe(true);
      }
      const originalConfig = await readJsonFile<Record<string, unknown>>(join(source, "adapter_config.json"));
      const savedConfig = JSON.parse(await readFile(join(target, "adapter_config.json"), "utf8")) as Record<
        string,
        unknown
      >;
      // target_modules is a Python set in PEFT: its order in the file is arbitrary.
      const sorted = (json: Record<string, unknown>) => ({
        ...json,
        target_modules: [...(json.target_modules as string[])].sort(),
      });
      expect(sorted(savedConfig)).toEqual(sorted(originalConfig));
      model.dispose();
    },
  );
});

describe.each(available)("LoRA on Gemma 3 against PEFT on the %s backend", (backend) => {
  it("reproduces the trained logits, and merge_and_unload's weights and logits", async () => {
    await setBackend(backend);
    const warnings: unknown[] = [];
    const { model, lora } = await adapted("adapter_trained", warnings);
    // The fixture README's bound for trained/merged logits, 1e-3 (an fp64 replay's differ by 1.2e-4; the
    // same adapter on the same base is a float32 recomputation, so the error here is ~1e-6).
    const trainedError = maxAbs(logitsOf(model, inputIds), toFloat32(reference.get("trained")!));
    expect(trainedError).toBeLessThan(1e-4);
    const merged = lora.mergeAndUnload();
    const expected = (await readSafetensorsFile(`${directory}peft_lora/merged/targets.safetensors`)).tensors;
    expect(merged.size).toBe(28);
    // merge_and_unload rewrites the 28 target weights of the base, each journaled with a warning.
    expect(warnings).toHaveLength(28);
    expect(lora.store.journal).toHaveLength(28);
    let weightError = 0;
    for (const [key, raw] of expected) {
      const weight = merged.get(key.replace(/\.weight$/, ""));
      expect(weight, key).toBeDefined();
      weightError = Math.max(weightError, maxAbs(weight!.toFloat32Array(), toFloat32(raw)));
    }
    // W + 2·B·A in float32 either way (PEFT: torch matmul; here our GEMM): a few ulps of |W| ≈ 0.3.
    expect(weightError).toBeLessThan(1e-5);
    const mergedError = maxAbs(logitsOf(model, inputIds), toFloat32(reference.get("merged")!));
    expect(mergedError).toBeLessThan(1e-4);
    console.log(
      JSON.stringify({ gemma3: "peft_lora merged", backend, trainedError, weightError, mergedError }),
    );
    model.dispose();
  });

  it("reproduces the step-0 gradients, the 5 AdamW losses and the trained deltas", async () => {
    await setBackend(backend);
    const { model, lora } = await adapted("adapter_init");
    const expected = (await readSafetensorsFile(`${directory}peft_lora/grads_step0.safetensors`)).tensors;
    const { value, gradients } = valueAndGradients(
      () => causalLanguageModelLoss(model.forward(inputIds), inputIds),
      lora.trainableParameters(),
    );
    value.dispose();
    expect([...gradients.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, raw] of expected) {
      const referenceGradient = toFloat32(raw);
      const actual = gradients.get(key)!.toFloat32Array();
      const largest = referenceGradient.reduce((worst, entry) => Math.max(worst, Math.abs(entry)), 0);
      // the bound of the stories260K and Mistral cases: 3e-5 of each tensor's largest entry (summation order)
      expect(maxAbs(actual, referenceGradient), key).toBeLessThanOrEqual(3e-5 * largest);
      gradients.get(key)!.dispose();
    }
    // torch.optim.AdamW(lr=1e-2, eps=1e-6) as PEFT ran it: betas (0.9, 0.999) and weight decay 0.01 by default.
    const optimizer = new AdamW({ learningRate: 1e-2, eps: 1e-6, betas: [0.9, 0.999], weightDecay: 0.01 });
    const { losses } = await train({
      model,
      trainable: lora.trainable,
      optimizer,
      batches: [{ inputIds }],
      steps: 5,
    });
    // The README's bound for LoRA losses, 1e-5 absolute (≤ 2e-6 relative at these losses; an fp64 replay
    // differs by 9.5e-7).
    const lossErrors = losses.map((loss, step) => Math.abs(loss - training.losses[step]!));
    for (const [step, error] of lossErrors.entries()) expect(error, `step ${step}`).toBeLessThan(1e-5);
    const after = causalLanguageModelLoss(model.forward(inputIds), inputIds);
    const afterError = Math.abs(after.toFloat32Array()[0]! - training.loss_after_training);
    after.dispose();
    expect(afterError).toBeLessThan(1e-4);
    // Trained deltas s·B·A against PEFT's adapter_trained: 1e-3 relative Frobenius per module (the README's
    // bound for trained weights; an fp64 replay's parameters differ by 2.4e-4 absolute).
    const ours = adapterDeltas(lora.getAdapter("default"));
    const theirs = adapterDeltas(await loadPeftAdapter(`${directory}peft_lora/adapter_trained`));
    let worstDelta = 0;
    for (const [module, delta] of theirs) {
      const mine = ours.get(module)!;
      let difference = 0;
      let norm = 0;
      for (let index = 0; index < delta.data.length; index++) {
        difference += (mine.data[index]! - delta.data[index]!) ** 2;
        norm += delta.data[index]! ** 2;
      }
      worstDelta = Math.max(worstDelta, Math.sqrt(difference / norm));
      expect(Math.sqrt(difference / norm), module).toBeLessThan(1e-3);
    }
    console.log(
      JSON.stringify({ gemma3: "peft_lora training", backend, lossErrors, afterError, worstDelta }),
    );
    optimizer.dispose();
    model.dispose();
  });
});
