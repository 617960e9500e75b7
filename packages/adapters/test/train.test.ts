import { fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import { AdamW, type CausalLM, causalLanguageModelLoss, train } from "@peftjs/models";
import { getBackend, probeBackends, setBackend, valueAndGradients } from "@peftjs/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adapterDeltas,
  type InitLoraWeights,
  type LoraAdapter,
  LoraModel,
  type Matrix,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, readCase, readMatrices, readRaw } from "./helpers.js";
import { relativeFrobenius, storiesModel, storiesWeights } from "./model-helpers.js";

// Issue 8's training acceptance through the real adapter layers: for every PEFT case that trains, PEFT's
// adapter_init loaded into a LoraModel on stories260K, the step-0 gradients (grads_step0.safetensors), then 20
// steps of @peftjs/models' `train` + AdamW on the case's batch: per-step losses (case.json) and trained deltas
// s·B·A (deltas.safetensors), with the base left untouched and only lora_A/lora_B trained.

interface TrainingRecord {
  input_ids: number[][];
  losses: number[];
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
}

/**
 * How a case's training run is set up on our side.
 * - `plain`: plain LoRA on the original fp32 base (adapter_init as it is).
 * - `overlay`: PiSSA/OLoRA on the untouched original base: adapter_init loaded with `init_lora_weights` set to
 *   the case's method and itself as `initialAdapter`, so each layer computes W·x − s·B₀A₀·x + s·B·A·x.
 * - `residual`: PEFT's own setup: the base's target weights replaced by the case's `residual/` W_res (bf16 for
 *   `pissa_bf16`) and adapter_init loaded as the plain LoRA its config says (`init_lora_weights: true`), which is
 *   what PEFT trains once its init has rewritten the base.
 */
type Placement = "plain" | "overlay" | "residual";

interface TrainingScenario {
  caseName: string;
  placement: Placement;
  /** The case's init method (overlay mode). */
  init?: InitLoraWeights;
  /** Every base tensor rounded to bf16, as PEFT's `torch_dtype=torch.bfloat16` base. */
  bf16?: boolean;
}

// Every PiSSA/OLoRA case runs on its residual (PEFT's setup, the wording) and, except pissa_bf16, also in
// overlay mode, and the two must agree (last describe); pissa_niter_4's randomized SVD cannot be recomputed,
// hence its initialAdapter. pissa_bf16 trains on its bf16 residual only.
const scenarios: TrainingScenario[] = [
  { caseName: "lora_default", placement: "plain" },
  { caseName: "lora_gaussian_rslora", placement: "plain" },
  { caseName: "pissa", placement: "overlay", init: "pissa" },
  { caseName: "pissa", placement: "residual" },
  { caseName: "pissa_patterns", placement: "overlay", init: "pissa" },
  { caseName: "pissa_patterns", placement: "residual" },
  { caseName: "pissa_niter_4", placement: "overlay", init: "pissa_niter_4" },
  { caseName: "pissa_niter_4", placement: "residual" },
  { caseName: "pissa_bf16", placement: "residual", bf16: true },
  { caseName: "olora", placement: "overlay", init: "olora" },
  { caseName: "olora", placement: "residual" },
];

// The wasm backend when it is available (~5× faster than js here: the whole file takes ~13 s instead of ~75 s
// on two busy cores), js otherwise; the bounds below hold on both (the measured numbers quoted are js, wasm's
// are within a factor 2.5 of them, except olora's trained deltas, quoted for both).
let initialBackend: string;
beforeAll(async () => {
  initialBackend = getBackend();
  const wasm = (await probeBackends()).find((info) => info.name === "wasm");
  if (wasm?.availability?.available === true) await setBackend("wasm");
});
afterAll(() => setBackend(initialBackend));

/** Losses and trained deltas of each scenario, for the overlay-vs-residual comparison. */
const results = new Map<string, { losses: number[]; deltas: Map<string, Matrix> }>();

/** The stories260K weights rounded to bf16 (round to nearest even, as `tensor.to(torch.bfloat16)`). */
async function bf16Weights(): Promise<Map<string, RawTensor>> {
  const rounded = new Map<string, RawTensor>();
  for (const [key, raw] of await storiesWeights()) {
    rounded.set(key, { dtype: "BF16", shape: raw.shape, data: fromFloat32(toFloat32(raw), "BF16") });
  }
  return rounded;
}

async function baseModel(scenario: TrainingScenario): Promise<CausalLM> {
  const overrides = new Map<string, RawTensor>(scenario.bf16 ? await bf16Weights() : []);
  if (scenario.placement === "residual") {
    for (const [key, raw] of await readRaw(`peft/${scenario.caseName}/residual/targets.safetensors`)) {
      overrides.set(key, raw);
    }
  }
  return storiesModel(overrides);
}

function loadInto(lora: LoraModel, scenario: TrainingScenario, initial: LoraAdapter): void {
  if (scenario.placement !== "overlay") {
    lora.loadAdapter("default", initial);
    return;
  }
  // adapter_init's config says init_lora_weights: true (PEFT's convention for conversion): loaded as an adapter
  // of the case's method, with its own factors as the frozen correction s·B₀A₀.
  const adapter = { ...initial, config: { ...initial.config, init_lora_weights: scenario.init! } };
  lora.loadAdapter("default", adapter, { initialAdapter: initial });
}

/** ‖actual − expected‖_F / ‖expected‖_F, in float64. */
/** The relative Frobenius error of all modules' deltas taken together. */
function globalRelativeFrobenius(actual: Map<string, Matrix>, expected: Map<string, Matrix>): number {
  let difference = 0;
  let norm = 0;
  for (const [moduleName, reference] of expected) {
    const error = relativeFrobenius(actual.get(moduleName)!.data, reference.data);
    const squaredNorm = reference.data.reduce((sum, value) => sum + value * value, 0);
    difference += error * error * squaredNorm;
    norm += squaredNorm;
  }
  return Math.sqrt(difference / norm);
}

describe.each(scenarios)("training $caseName ($placement) through LoraModel", (scenario) => {
  const { caseName, placement } = scenario;
  let training: TrainingRecord;
  let fp64ReplayLosses: number[];
  let model: CausalLM;
  let lora: LoraModel;
  let fingerprint: string;

  beforeAll(async () => {
    const json = await readCase(caseName);
    training = json.training as TrainingRecord;
    fp64ReplayLosses = (json.tolerances_observed as { fp64_replay: { losses: number[] } }).fp64_replay.losses;
    model = await baseModel(scenario);
    lora = LoraModel.create(model);
    loadInto(lora, scenario, await loadPeftAdapter(fixturePath(`peft/${caseName}/adapter_init`)));
    fingerprint = lora.store.modelFingerprint();
  });
  afterAll(() => model.dispose());

  it("reproduces PEFT's step-0 gradients (grads_step0.safetensors)", async () => {
    const expected = await readRaw(`peft/${caseName}/grads_step0.safetensors`);
    const { value, gradients } = valueAndGradients(
      () => causalLanguageModelLoss(model.forward(training.input_ids), training.input_ids),
      lora.trainableParameters(),
    );
    value.dispose();
    // exactly PEFT's file keys, nothing else
    expect([...gradients.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, raw] of expected) {
      const reference = toFloat32(raw);
      const actual = gradients.get(key)!.toFloat32Array();
      if (scenario.bf16) {
        // PEFT ran this base in bf16 (every base layer's output rounded to 8 significant bits), we run the same
        // bf16 weights in fp32 (the losses below show our run is PEFT's fp64 replay of those weights to 2.4e-7).
        // The gradients differ at the level of bf16 activation noise accumulated over 5 layers: measured 1.7e-2
        // to 5.6e-2 relative Frobenius per tensor (js and wasm alike). Bound 0.15 (~3× the worst); a wrong rule
        // (scaling, transpose, label shift) is off by order 1.
        expect(relativeFrobenius(actual, reference), key).toBeLessThan(0.15);
        continue;
      }
      let worst = 0;
      let largest = 0;
      for (let index = 0; index < reference.length; index++) {
        worst = Math.max(worst, Math.abs((actual[index] as number) - (reference[index] as number)));
        largest = Math.max(largest, Math.abs(reference[index] as number));
      }
      // fp32 against fp32, summed in another order (and in overlay mode through W·x − s·B₀A₀·x instead of
      // W_res·x): measured ≤ 6.0e-6 (js) / 8.4e-6 (wasm) of each tensor's largest entry, both olora overlay.
      // 3e-5 is ~30× float32 round-off accumulated over 124 positions and 5 layers, while a wrong rule is off by
      // order 1. lora_default's lora_A gradients are exactly 0 (B₀ = 0) and must be exactly 0 here too.
      expect(worst, key).toBeLessThanOrEqual(3e-5 * largest);
    }
    for (const gradient of gradients.values()) gradient.dispose();
  });

  it("matches PEFT's 20 AdamW losses and trained deltas, training only lora_A/lora_B", async () => {
    const { lr, betas, eps, weight_decay } = training.optimizer;
    const optimizer = new AdamW({ learningRate: lr, betas, eps, weightDecay: weight_decay });
    const trainedKeys = [...lora.trainableParameters().keys()];
    const { losses } = await train({
      model,
      trainable: lora.trainable,
      optimizer,
      batches: [{ inputIds: training.input_ids }],
      steps: training.losses.length,
    });
    expect(losses).toHaveLength(20);
    for (let step = 0; step < losses.length; step++) {
      const loss = losses[step] as number;
      if (scenario.bf16) {
        // PEFT's fp64 replay (bf16 weights upcast, exact arithmetic) is what our fp32 run computes, so it must
        // agree to the fp32 bound (measured 2.4e-7). PEFT's own bf16-activation run differs from that replay by
        // ≤ 1.9e-3 (measured 1.87e-3 here too); the fixture README's "~10× the bf16 differences" gives 2e-2.
        expect(Math.abs(loss - (fp64ReplayLosses[step] as number)), `step ${step}`).toBeLessThan(1e-4);
        expect(Math.abs(loss - (training.losses[step] as number)), `step ${step}`).toBeLessThan(2e-2);
      } else {
        // The bound, 1e-4 absolute. Measured ≤ 6.6e-7, olora ≤ 8.4e-6 (js) / 1.9e-5 (wasm): OLoRA's
        // training amplifies round-off (PEFT's own 1- vs 2-thread reruns differ by 8.8e-6, its fp64 replay by 8.6e-6).
        expect(Math.abs(loss - (training.losses[step] as number)), `step ${step}`).toBeLessThan(1e-4);
      }
    }
    const expected = await readMatrices(`peft/${caseName}/deltas.safetensors`);
    const deltas = adapterDeltas(lora.getAdapter("default"));
    expect([...deltas.keys()].sort()).toEqual([...expected.keys()].sort());
    if (scenario.bf16) {
      // Against PEFT's bf16 run the fp64 replay reached 1.44e-2 relative Frobenius over all modules and 3.3e-2
      // for the worst module; ours measures the same (1.44e-2, 3.3e-2). 10× those, as the README advises.
      expect(globalRelativeFrobenius(deltas, expected)).toBeLessThan(0.144);
      for (const [moduleName, reference] of expected) {
        expect(relativeFrobenius(deltas.get(moduleName)!.data, reference.data), moduleName).toBeLessThan(
          0.33,
        );
      }
    } else {
      // The README's 1e-3 relative Frobenius per module after training. Measured ≤ 1.6e-4 (lora_default), ≤ 2.3e-5
      // (rslora), ≤ 1.9e-5 (PiSSA cases). olora is looser, as the README says (thread-count sensitive: PEFT's
      // own reruns differ by 3.4e-4 in the trained weights and 1.3e-2 in trained logits, 13× its 1e-3 logit
      // bound): measured ≤ 3.7e-4 (js) / 8.6e-4 (wasm), bound 5e-3; over all its modules together still 1e-3
      // (measured 2.2e-4 js / 4.9e-4 wasm).
      const bound = caseName === "olora" ? 5e-3 : 1e-3;
      for (const [moduleName, reference] of expected) {
        expect(relativeFrobenius(deltas.get(moduleName)!.data, reference.data), moduleName).toBeLessThan(
          bound,
        );
      }
      expect(globalRelativeFrobenius(deltas, expected)).toBeLessThan(1e-3);
    }
    // Only the adapter trained: lora_A/lora_B keys, one pair per module, the same set before and after; the base
    // store is untouched (overlay mode never rewrites it) and its journal empty.
    expect(trainedKeys.every((key) => /\.lora_[AB]\.weight$/.test(key))).toBe(true);
    expect(trainedKeys).toHaveLength(2 * deltas.size);
    expect([...lora.trainableParameters().keys()]).toEqual(trainedKeys);
    expect(lora.store.modelFingerprint()).toBe(fingerprint);
    expect(lora.store.journal).toHaveLength(0);
    results.set(`${caseName}/${placement}`, { losses, deltas });
  });
});

// Overlay (W·x − s·B₀A₀·x + s·B·A·x on the original base) and residual (PEFT's W_res·x + s·B·A·x) are the same
// function up to float32 rounding, so their training runs must agree at least as closely as either matches PEFT.
describe.each(["pissa", "pissa_patterns", "pissa_niter_4", "olora"])(
  "%s: overlay and residual training agree",
  (caseName) => {
    it("gives the same losses and trained deltas in both modes", () => {
      const overlay = results.get(`${caseName}/overlay`)!;
      const residual = results.get(`${caseName}/residual`)!;
      expect(overlay).toBeDefined();
      expect(residual).toBeDefined();
      // PiSSA cases: measured ≤ 3.6e-7 in the losses and ≤ 1.7e-5 relative in the deltas; bounds 1e-5 and 1e-4.
      // OLoRA amplifies the rounding difference as it amplifies thread-count differences in PEFT (see above):
      // measured 3.3e-7 / 1.6e-5 (js), 1.5e-5 / 7.0e-4 (wasm); bounds 1e-4 and 5e-3, its bounds against PEFT.
      const [lossBound, deltaBound] = caseName === "olora" ? [1e-4, 5e-3] : [1e-5, 1e-4];
      for (let step = 0; step < overlay.losses.length; step++) {
        const difference = Math.abs((overlay.losses[step] as number) - (residual.losses[step] as number));
        expect(difference, `step ${step}`).toBeLessThan(lossBound);
      }
      for (const [moduleName, delta] of residual.deltas) {
        const error = relativeFrobenius(overlay.deltas.get(moduleName)!.data, delta.data);
        expect(error, moduleName).toBeLessThan(deltaBound);
      }
    });
  },
);
