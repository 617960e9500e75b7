import { readFileSync } from "node:fs";
import { deserialize, type RawTensor, toFloat32 } from "@peftjs/io";
import { type LinearLike, linear, Module } from "@peftjs/nn";
import { add, matmul, memory, scale, type Tensor, tensor, tidy, valueAndGradients } from "@peftjs/tensor";
import { afterAll, describe, expect, it } from "vitest";
import {
  AdamW,
  type CausalLM,
  causalLanguageModelLoss,
  createModel,
  ModelInputError,
  type TrainableParameters,
  TrainingDivergedError,
  type TrainingStepReport,
  totalGradientNorm,
  train,
} from "../src/index.js";

// PEFT's plain-LoRA training cases (fixtures/peft/README.md), each from its adapter_init on the original
// stories260K base with AdamW(lr 5e-3, betas (0.9, 0.999), eps 1e-6, weight decay 0) for 20 steps:
// lora_default (r 8, alpha 16 on q/v) and lora_gaussian_rslora (r 4, rsLoRA scaling 4, all 7 projections,
// so gradients also flow through the rectangular MLP projections).
const fixtures = new URL("./fixtures/", import.meta.url);
const read = (path: string) => deserialize(new Uint8Array(readFileSync(new URL(path, fixtures)))).tensors;
const baseConfig = JSON.parse(readFileSync(new URL("stories260k/config.json", fixtures), "utf8")) as unknown;
const baseWeights = read("stories260k/model.safetensors");

interface LoraCase {
  readonly name: string;
  readonly training: { input_ids: number[][]; losses: number[] };
  readonly scalings: Record<string, { scaling: number }>;
  readonly adapterInit: Map<string, RawTensor>;
  readonly adapterTrained: Map<string, RawTensor>;
  readonly gradientsStep0: Map<string, RawTensor>;
}

function loadCase(name: string): LoraCase {
  const json = JSON.parse(readFileSync(new URL(`peft/${name}/case.json`, fixtures), "utf8")) as Omit<
    LoraCase,
    "name" | "adapterInit" | "adapterTrained" | "gradientsStep0"
  >;
  return {
    name,
    training: json.training,
    scalings: json.scalings,
    adapterInit: read(`peft/${name}/adapter_init/adapter_model.safetensors`),
    adapterTrained: read(`peft/${name}/adapter_trained/adapter_model.safetensors`),
    gradientsStep0: read(`peft/${name}/grads_step0.safetensors`),
  };
}

/** A minimal LoRA layer for these tests (the real one lives in @peftjs/adapters): W x + s · B (A x). */
class TestLora extends Module implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  constructor(
    readonly base: LinearLike,
    public loraA: Tensor,
    public loraB: Tensor,
    readonly scaling: number,
  ) {
    super();
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
  }
  forward(input: Tensor): Tensor {
    return add(this.base.forward(input), scale(linear(linear(input, this.loraA), this.loraB), this.scaling));
  }
}

function peftKey(module: string, matrix: "lora_A" | "lora_B"): string {
  return `base_model.model.${module}.${matrix}.weight`;
}

function loadLoraModel(loraCase: LoraCase): {
  model: CausalLM;
  layers: Map<string, TestLora>;
  trainable: TrainableParameters;
} {
  const model = createModel(baseConfig, baseWeights);
  const layers = new Map<string, TestLora>();
  for (const [name, { scaling }] of Object.entries(loraCase.scalings)) {
    const raw = (matrix: "lora_A" | "lora_B") => {
      const value = loraCase.adapterInit.get(peftKey(name, matrix))!;
      return tensor(toFloat32(value), value.shape);
    };
    model.replaceModule(name, (base) => {
      const layer = new TestLora(base as LinearLike, raw("lora_A"), raw("lora_B"), scaling);
      layers.set(name, layer);
      return layer;
    });
  }
  const trainable: TrainableParameters = {
    parameters: () => {
      const parameters = new Map<string, Tensor>();
      for (const [name, layer] of layers) {
        parameters.set(peftKey(name, "lora_A"), layer.loraA);
        parameters.set(peftKey(name, "lora_B"), layer.loraB);
      }
      return parameters;
    },
    setParameters: (updated) => {
      for (const [name, layer] of layers) {
        layer.loraA.dispose();
        layer.loraB.dispose();
        layer.loraA = updated.get(peftKey(name, "lora_A"))!;
        layer.loraB = updated.get(peftKey(name, "lora_B"))!;
      }
    },
  };
  return { model, layers, trainable };
}

/** s · B · A in float64 from an adapter file, as the fixture's deltas.safetensors are computed. */
function referenceDelta(adapter: Map<string, RawTensor>, module: string, scaling: number): Float64Array {
  const a = adapter.get(peftKey(module, "lora_A"))!;
  const b = adapter.get(peftKey(module, "lora_B"))!;
  const [rank, inFeatures] = a.shape as [number, number];
  const outFeatures = b.shape[0]!;
  const aValues = toFloat32(a);
  const bValues = toFloat32(b);
  const delta = new Float64Array(outFeatures * inFeatures);
  for (let row = 0; row < outFeatures; row++) {
    for (let inner = 0; inner < rank; inner++) {
      const factor = scaling * bValues[row * rank + inner]!;
      for (let column = 0; column < inFeatures; column++) {
        delta[row * inFeatures + column]! += factor * aValues[inner * inFeatures + column]!;
      }
    }
  }
  return delta;
}

const adamW = () => new AdamW({ learningRate: 5e-3, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0 });

describe.each(["lora_default", "lora_gaussian_rslora"])(
  "training LoRA on stories260K (PEFT %s)",
  (caseName) => {
    const loraCase = loadCase(caseName);
    const batch = { inputIds: loraCase.training.input_ids };
    const { model, layers, trainable } = loadLoraModel(loraCase);
    afterAll(() => model.dispose());
    let fixtureGradientNorm = 0;

    it("reproduces PEFT's step-0 gradients", () => {
      const { value, gradients } = valueAndGradients(
        () => causalLanguageModelLoss(model.forward(batch.inputIds), batch.inputIds),
        trainable.parameters(),
      );
      expect(value.item()).toBeCloseTo(loraCase.training.losses[0]!, 5);
      value.dispose();
      expect(gradients.size).toBe(2 * layers.size);
      let squaredNorm = 0;
      for (const [name, expected] of loraCase.gradientsStep0) {
        const values = toFloat32(expected);
        const actual = gradients.get(name)!.toFloat32Array();
        let worst = 0;
        let largest = 0;
        for (let index = 0; index < values.length; index++) {
          worst = Math.max(worst, Math.abs(actual[index]! - values[index]!));
          largest = Math.max(largest, Math.abs(values[index]!));
          squaredNorm += values[index]! ** 2;
        }
        // Float32 gradients summed in another order: measured ≤ 3.5e-6 of each tensor's largest entry (about
        // 30 float32 ulps, accumulated over 124 positions and 5 layers); 3e-5 leaves room for other backends
        // while a wrong rule (factor, transpose, label shift) is off by order 1. (lora_A's step-0 gradient is
        // exactly 0 while B = 0, and must be exactly 0 here too.)
        expect(worst, name).toBeLessThanOrEqual(3e-5 * largest);
      }
      fixtureGradientNorm = Math.sqrt(squaredNorm);
      for (const gradient of gradients.values()) gradient.dispose();
    });

    it("matches PEFT's 20 AdamW steps: losses and trained deltas", async () => {
      // every parameter but the test layers' own loraA/loraB
      const baseBefore = [...model.namedParameters()]
        .filter(([name]) => !/\.lora[AB]$/.test(name))
        .map(([name, value]) => [name, value.toFloat32Array()] as const);
      expect(baseBefore).toHaveLength(model.weights.size);
      const tensorsBefore = memory().tensors;
      const reports: TrainingStepReport[] = [];
      const optimizer = adamW();
      const { losses } = await train({
        model,
        trainable,
        optimizer,
        batches: [batch],
        steps: 20,
        onStep: (report) => {
          reports.push(report);
          return undefined;
        },
      });
      expect(reports.map((report) => report.step)).toEqual([...Array(20).keys()]);
      expect(reports.map((report) => report.loss)).toEqual(losses);
      expect(reports[0]!.gradientNorm).toBeCloseTo(fixtureGradientNorm, 5);
      // The bound: 1e-4 absolute per step (measured ≤ 5.1e-7; a float64 replay differs from PyTorch's
      // float32 by 3.6e-7).
      for (const [step, loss] of losses.entries()) {
        expect(Math.abs(loss - loraCase.training.losses[step]!), `step ${step}`).toBeLessThan(1e-4);
      }
      // Trained deltas s·B·A: the fixture README's 1e-3 relative Frobenius bound after training (measured
      // ≤ 1.1e-4; float64 vs float32 PyTorch runs differ by up to 1.7e-4 per module).
      for (const [name, layer] of layers) {
        const delta = tidy(() => scale(matmul(layer.loraB, layer.loraA), layer.scaling));
        const actual = delta.toFloat32Array();
        delta.dispose();
        const expected = referenceDelta(loraCase.adapterTrained, name, layer.scaling);
        let difference = 0;
        let norm = 0;
        for (let index = 0; index < expected.length; index++) {
          difference += (actual[index]! - expected[index]!) ** 2;
          norm += expected[index]! ** 2;
        }
        expect(Math.sqrt(difference / norm), name).toBeLessThan(1e-3);
      }
      // Only adapter parameters changed; no tensor leaked across 20 steps (the optimizer's moments released).
      optimizer.dispose();
      for (const [name, values] of baseBefore) {
        expect(model.namedParameters().get(name)!.toFloat32Array(), name).toEqual(values);
      }
      expect(memory().tensors).toBe(tensorsBefore);
    });

    it("clips, stops early and checks its arguments", async () => {
      const appliedNorms: number[] = [];
      class RecordingAdamW extends AdamW {
        override step(parameters: ReadonlyMap<string, Tensor>, gradients: ReadonlyMap<string, Tensor>) {
          const norm = totalGradientNorm(gradients);
          appliedNorms.push(norm.item());
          norm.dispose();
          return super.step(parameters, gradients);
        }
      }
      const short = { inputIds: loraCase.training.input_ids.map((row) => row.slice(0, 8)) };
      const reports: TrainingStepReport[] = [];
      const { losses } = await train({
        model,
        trainable,
        optimizer: new RecordingAdamW({ learningRate: 1e-3 }),
        batches: (step) => (step === 0 ? short : batch),
        steps: 5,
        maxGradientNorm: 1e-3,
        onStep: (report) => {
          reports.push(report);
          return report.step < 1;
        },
      });
      expect(losses).toHaveLength(2);
      expect(reports.map((report) => report.step)).toEqual([0, 1]);
      for (const [index, norm] of appliedNorms.entries()) {
        expect(reports[index]!.gradientNorm).toBeGreaterThan(1e-3);
        expect(norm).toBeCloseTo(1e-3, 6);
      }
      await expect(train({ model, trainable, optimizer: adamW(), batches: [], steps: 1 })).rejects.toThrow(
        ModelInputError,
      );
      await expect(
        train({ model, trainable, optimizer: adamW(), batches: [batch], steps: -1 }),
      ).rejects.toThrow("steps must be an integer ≥ 0, got -1");
    });
  },
);

describe("training that diverges", () => {
  const loraCase = loadCase("lora_default");
  const batch = { inputIds: loraCase.training.input_ids };
  const snapshot = (trainable: TrainableParameters) =>
    new Map([...trainable.parameters()].map(([name, value]) => [name, value.toFloat32Array()]));

  it("stops at a non-finite loss before applying it, keeping the last finite step's parameters", async () => {
    const { model, trainable } = loadLoraModel(loraCase);
    const tensorsBefore = memory().tensors;
    const steps: number[] = [];
    let lastGood = snapshot(trainable);
    let caught: unknown;
    const optimizer = new AdamW({ learningRate: 1e30 });
    try {
      await train({
        model,
        trainable,
        optimizer,
        batches: [batch],
        steps: 10,
        onStep: ({ step }) => {
          steps.push(step);
          lastGood = snapshot(trainable);
        },
      });
    } catch (error) {
      caught = error;
    }
    // lr 1e30: the first update is finite (Adam's step is about lr·sign(g) = ±1e30 < float32's 3.4e38), the
    // loss after it is not.
    expect(caught).toBeInstanceOf(TrainingDivergedError);
    const error = caught as TrainingDivergedError;
    expect(error.step).toBe(steps.length);
    expect(error.lastFiniteStep).toBe(steps.length - 1);
    expect(error.message).toMatch(/training diverged at step \d+: the (loss|gradient norm) is/);
    expect(error.message).toContain(`the last finite step was ${steps.length - 1}`);
    expect(snapshot(trainable)).toEqual(lastGood);
    optimizer.dispose(); // its moments live on the device until then
    expect(memory().tensors).toBe(tensorsBefore);
    model.dispose();
  });

  it("refuses a last update that is not finite, and installs nothing of it", async () => {
    const { model, trainable } = loadLoraModel(loraCase);
    const before = snapshot(trainable);
    const tensorsBefore = memory().tensors;
    const optimizer = new AdamW({ learningRate: 1e39 });
    // lr 1e39 overflows float32 in the very first (and last) update, which no later loss would reveal.
    await expect(train({ model, trainable, optimizer, batches: [batch], steps: 1 })).rejects.toThrow(
      /training diverged at step 0: its update makes "base_model\.model\..*" hold (NaN|-?Infinity)/,
    );
    expect(snapshot(trainable)).toEqual(before);
    optimizer.dispose(); // its moments live on the device until then
    expect(memory().tensors).toBe(tensorsBefore);
    model.dispose();
  });

  it("accepts an onStep callback that returns nothing (type check) and goes on", async () => {
    const { model, trainable } = loadLoraModel(loraCase);
    const seen: number[] = [];
    const onStep = (report: TrainingStepReport): void => {
      seen.push(report.step);
    };
    await train({ model, trainable, optimizer: adamW(), batches: [batch], steps: 2, onStep });
    expect(seen).toEqual([0, 1]);
    model.dispose();
  });
});
