import { toFloat32 } from "@peftjs/io";
import { readSafetensorsFile } from "@peftjs/io/node";
import { AdamW, type CausalLM, causalLanguageModelLoss, train } from "@peftjs/models";
import { loadModel } from "@peftjs/models/node";
import { valueAndGradients } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import { adapterDeltas, LoraModel } from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { logitsOf, maxAbs, readPeftLoraCase } from "./model-helpers.js";

// PEFT's LoRA on transformers' Mistral (sliding window 8): all-linear, gaussian init, 5 AdamW steps
// (fixtures/README.md, "hf/mistral"). The model type is only reachable through the registry, so this is the
// module layer's second architecture carrying real adapters.
const { directory, training, logits: reference } = await readPeftLoraCase("mistral");
const inputIds = training.input_ids;

async function adapted(folder: string): Promise<{ model: CausalLM; lora: LoraModel<CausalLM> }> {
  const model = await loadModel(directory);
  const lora = LoraModel.create(model);
  lora.loadAdapter("default", await loadPeftAdapter(`${directory}peft_lora/${folder}`));
  return { model, lora };
}

describe("LoRA on Mistral against PEFT", () => {
  it("reproduces the trained and merged logits", async () => {
    const { model, lora } = await adapted("adapter_trained");
    expect(model.config.modelType).toBe("mistral");
    // The fixture README's bound for trained/merged logits, 1e-3 (an fp64 replay differs by 2.0e-5).
    expect(maxAbs(logitsOf(model, inputIds), toFloat32(reference.get("trained")!))).toBeLessThan(1e-3);
    lora.merge();
    expect(maxAbs(logitsOf(model, inputIds), toFloat32(reference.get("merged")!))).toBeLessThan(1e-3);
  });

  it("reproduces the step-0 gradients and the 5 AdamW losses, and the trained deltas", async () => {
    const { model, lora } = await adapted("adapter_init");
    const expected = (await readSafetensorsFile(`${directory}peft_lora/grads_step0.safetensors`)).tensors;
    const { value, gradients } = valueAndGradients(
      () => causalLanguageModelLoss(model.forward(inputIds), inputIds),
      lora.trainableParameters(),
    );
    value.dispose();
    expect([...gradients.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, raw] of expected) {
      const reference = toFloat32(raw);
      const actual = gradients.get(key)!.toFloat32Array();
      const largest = reference.reduce((worst, entry) => Math.max(worst, Math.abs(entry)), 0);
      // the bound of the stories260K cases: 3e-5 of each tensor's largest entry (float32 summation order)
      expect(maxAbs(actual, reference), key).toBeLessThanOrEqual(3e-5 * largest);
      gradients.get(key)!.dispose();
    }
    const optimizer = new AdamW({ learningRate: 1e-2, eps: 1e-6 }); // PyTorch's default decay 0.01, as PEFT ran it
    const { losses } = await train({
      model,
      trainable: lora.trainable,
      optimizer,
      batches: [{ inputIds }],
      steps: 5,
    });
    // The README's bound for LoRA losses, 1e-5 (an fp64 replay differs by 9.5e-7).
    for (const [step, loss] of losses.entries()) {
      expect(Math.abs(loss - training.losses[step]!), `step ${step}`).toBeLessThan(1e-5);
    }
    // Trained deltas s·B·A against PEFT's adapter_trained: 1e-3 relative Frobenius per module (the README's
    // bound for trained weights; an fp64 replay's parameters differ by 5.5e-5).
    const ours = adapterDeltas(lora.getAdapter("default"));
    const theirs = adapterDeltas(await loadPeftAdapter(`${directory}peft_lora/adapter_trained`));
    for (const [module, delta] of theirs) {
      const mine = ours.get(module)!;
      let difference = 0;
      let norm = 0;
      for (let index = 0; index < delta.data.length; index++) {
        difference += (mine.data[index]! - delta.data[index]!) ** 2;
        norm += delta.data[index]! ** 2;
      }
      expect(Math.sqrt(difference / norm), module).toBeLessThan(1e-3);
    }
    optimizer.dispose();
  });
});
