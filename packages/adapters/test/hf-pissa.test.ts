import { toFloat32 } from "@peftjs/io";
import { readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import { AdamW, type CausalLM, createModel, train } from "@peftjs/models";
import { getBackend, probeBackends, setBackend } from "@peftjs/tensor";
import { afterAll, describe, expect, it } from "vitest";
import {
  adapterDeltas,
  convertToLora,
  initializeAdapter,
  type LoraAdapter,
  LoraModel,
  matrix,
  parseLoraConfig,
  relativeError,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath } from "./helpers.js";
import { logitsOf, maxAbs } from "./model-helpers.js";

// PEFT's PiSSA on transformers' Qwen3 loaded in bf16 (fixtures/README.md, "PEFT on the models": r 8, alpha 16,
// q_proj and v_proj, 5 AdamW steps). PEFT ran the whole model in bf16; we compute in float32 on the same bf16
// weights, so its logits and losses carry bf16 activation noise that ours do not: the fixture README suggests
// ~0.1 on logits, and its stories260K bf16 case shows losses 1.9e-3 apart (we allow 2e-2, "~10×"). Paths whose
// reference was computed in float32 (the converted adapter on the upcast original) are held to 1e-4.

const directory = fixturePath("hf/qwen3/");
const pissa = `${directory}peft_pissa/`;
const caseJson = await readJsonFile<{
  lora_config: Record<string, unknown>;
  training: { input_ids: number[][]; losses: number[] };
}>(`${pissa}case.json`);
const inputIds = caseJson.training.input_ids;
const logits = (await readSafetensorsFile(`${pissa}logits.safetensors`)).tensors;
const residual = (await readSafetensorsFile(`${pissa}residual.safetensors`)).tensors;
const initial = await loadPeftAdapter(`${pissa}adapter_init`);
const trained = await loadPeftAdapter(`${pissa}adapter_trained`);
const converted = await loadPeftAdapter(`${pissa}adapter_converted`);

const initialBackend = getBackend();
const backends = (await probeBackends())
  .filter((info) => info.availability?.available === true && (info.name === "js" || info.name === "wasm"))
  .map((info) => info.name);
afterAll(() => setBackend(initialBackend));

/** The bf16 Qwen3 as stored, optionally with PEFT's bf16 residual in place of q_proj/v_proj. */
async function qwen3(withResidual: boolean): Promise<CausalLM> {
  const config = await readJsonFile(`${directory}config.json`);
  const weights = new Map((await readSafetensorsFile(`${directory}model.safetensors`)).tensors);
  if (withResidual) for (const [key, raw] of residual) weights.set(key, raw);
  return createModel(config, weights);
}

/** The same factors with `init_lora_weights: true`: a plain LoRA on whatever base it is loaded onto. */
function asPlainLora(adapter: LoraAdapter): LoraAdapter {
  return { ...adapter, config: { ...adapter.config, init_lora_weights: true } };
}

describe("PEFT PiSSA on bf16 Qwen3", () => {
  it("recomputes PEFT's init: s·B0·A0 and the bf16 residual", async () => {
    const model = await qwen3(false);
    const store = model.weights;
    const config = parseLoraConfig(caseJson.lora_config);
    const targets = new Map(
      [...initial.modules.keys()].map((name) => {
        const stored = store.get(`${name}.weight`);
        const [rows, columns] = stored.shape as [number, number];
        const values = matrix(rows, columns, toFloat32(stored.toRaw()));
        return [
          name,
          { outFeatures: rows, inFeatures: columns, readWeight: () => ({ values, dtype: "BF16" as const }) },
        ];
      }),
    );
    const { adapter, residuals } = initializeAdapter(config, targets, { seed: 0 });
    const ours = adapterDeltas(adapter);
    const theirs = adapterDeltas(initial);
    for (const [name, delta] of theirs) {
      // PEFT rounded A0/B0 through bf16 (2^-8 relative); ours are float32: products agree to bf16 precision.
      expect(relativeError(ours.get(name)!, delta), name).toBeLessThan(1e-2);
      const expected = residual.get(`${name}.weight`)!;
      const expectedResidual = matrix(expected.shape[0]!, expected.shape[1]!, toFloat32(expected));
      expect(relativeError(residuals.get(name)!, expectedResidual), name).toBeLessThan(1e-2);
    }
    model.dispose();
  });

  it("converts PEFT's trained adapter exactly as PEFT did (A' = [A; A0], B' = [B, −B0], r and alpha doubled)", () => {
    const ours = convertToLora(trained, initial);
    expect(ours.config.r).toBe(converted.config.r);
    expect(ours.config.lora_alpha).toBe(converted.config.lora_alpha);
    for (const [name, factors] of converted.modules) {
      expect(ours.modules.get(name)!.loraA.data, name).toEqual(factors.loraA.data);
      expect(ours.modules.get(name)!.loraB.data, name).toEqual(factors.loraB.data);
    }
  });

  describe.each(backends)("on the %s backend", (backend) => {
    it("reproduces the base, trained and converted logits", async () => {
      await setBackend(backend);
      const original = await qwen3(false);
      // PEFT's logits of the bf16 model computed in bf16; ours in float32.
      const baseError = maxAbs(logitsOf(original, inputIds), toFloat32(logits.get("base")!));
      const lora = LoraModel.create(original);
      lora.loadAdapter("converted", converted);
      const convertedError = maxAbs(
        logitsOf(original, inputIds),
        toFloat32(logits.get("converted_on_original_fp32_upcast")!),
      );
      const convertedBf16Error = maxAbs(
        logitsOf(original, inputIds),
        toFloat32(logits.get("converted_on_original_bf16")!),
      );
      // The unconverted adapter in overlay mode, with PEFT's A0/B0: W + s·(BA − B0A0) on the untouched base.
      lora.loadAdapter("trained", trained, { initialAdapter: initial, activate: true });
      lora.setActiveAdapters(["trained"]);
      const overlayError = maxAbs(
        logitsOf(original, inputIds),
        toFloat32(logits.get("converted_on_original_fp32_upcast")!),
      );
      original.dispose();
      // PEFT's own setup: its bf16 residual as the base and the trained A/B on it as a plain LoRA (which is what
      // the residual makes of it; the file's init_lora_weights "pissa" would rerun the init). Reference in bf16.
      const onResidual = await qwen3(true);
      LoraModel.create(onResidual).loadAdapter("default", asPlainLora(trained));
      const trainedError = maxAbs(logitsOf(onResidual, inputIds), toFloat32(logits.get("trained")!));
      onResidual.dispose();
      console.log(
        JSON.stringify({
          backend,
          baseError,
          convertedError,
          convertedBf16Error,
          overlayError,
          trainedError,
        }),
      );
      expect(convertedError).toBeLessThan(1e-4);
      expect(overlayError).toBeLessThan(1e-4);
      expect(baseError).toBeLessThan(0.1);
      expect(convertedBf16Error).toBeLessThan(0.1);
      expect(trainedError).toBeLessThan(0.1);
    });

    it("trains from adapter_init on the bf16 residual with PEFT's losses (bf16 bound)", async () => {
      await setBackend(backend);
      const model = await qwen3(true);
      const lora = LoraModel.create(model);
      lora.loadAdapter("default", initial);
      const optimizer = new AdamW({ learningRate: 1e-2, eps: 1e-6 });
      const { losses } = await train({
        model,
        trainable: lora.trainable,
        optimizer,
        batches: [{ inputIds }],
        steps: 5,
      });
      optimizer.dispose();
      const lossError = Math.max(
        ...losses.map((loss, step) => Math.abs(loss - caseJson.training.losses[step]!)),
      );
      const ours = logitsOf(model, inputIds);
      const trainedError = maxAbs(ours, toFloat32(logits.get("trained")!));
      model.dispose();
      // PEFT's trained adapter evaluated here in float32: what remains is the training trajectory, which PEFT
      // ran with bf16 activations and gradients.
      const reference = await qwen3(true);
      LoraModel.create(reference).loadAdapter("default", asPlainLora(trained));
      const trajectoryError = maxAbs(ours, logitsOf(reference, inputIds));
      reference.dispose();
      console.log(JSON.stringify({ backend, lossError, trainedError, trajectoryError }));
      expect(lossError).toBeLessThan(2e-2);
      // The fixture README's "~10× the bf16 differences" for bf16 cases: bf16 vs float32 forwards of the same
      // weights differ by 0.032 (base) to 0.047 (converted) here, so 0.5 after training.
      expect(trainedError).toBeLessThan(0.5);
      expect(trajectoryError).toBeLessThan(0.5);
    });
  });
});
