import { add, concat, mul, reshape, scalar, sum, type Tensor, tidy, valueAndGradients } from "@peftjs/tensor";
import type { CausalLM } from "../causal-lm.js";
import { ModelInputError, TrainingDivergedError } from "../errors.js";
import { readValues } from "../read-values.js";
import type { AdamW } from "./adamw.js";
import { causalLanguageModelLoss } from "./causal-lm-loss.js";
import { clipGradientNorm, totalGradientNorm } from "./clip-gradient-norm.js";

/**
 * The tensors a training run updates (e.g. the lora_A / lora_B weights of the adapters wrapping the model's
 * linear modules) and how to install new values. Tensors are immutable, so each step reads the current
 * tensors, computes updated ones and hands them back through {@link TrainableParameters.setParameters}.
 * Nothing else of the model is touched: base weights never receive gradients.
 */
export interface TrainableParameters {
  /** The current trainable tensors by name (e.g. PEFT's `base_model.model....lora_A.weight` keys). */
  parameters(): Map<string, Tensor>;
  /**
   * Installs updated tensors (same names and shapes) in place of the current ones. The implementation owns
   * both: it may dispose the tensors it replaces.
   */
  setParameters(updated: Map<string, Tensor>): void;
}

/** One training batch: token ids `[B, T]` and labels (default: the ids; transformers shifts them inside). */
export interface TrainingBatch {
  /** Token ids, `B` rows of equal length `T`. */
  readonly inputIds: readonly (readonly number[])[];
  /** Labels `[B, T]` (`-100` = not counted). Default `inputIds`. */
  readonly labels?: readonly (readonly number[])[];
}

/** What {@link train} reports after each step. */
export interface TrainingStepReport {
  /** 0-based index of the step just taken. */
  readonly step: number;
  /** The loss computed before this step's update (as PyTorch loops log it). */
  readonly loss: number;
  /** The gradients' total L2 norm before clipping. */
  readonly gradientNorm: number;
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** The model, with the trainable modules (adapters) already in its linear slots. */
  readonly model: CausalLM;
  /** The tensors to train and how to install their updates. */
  readonly trainable: TrainableParameters;
  /** The optimizer (its state carries over between calls to `train`). */
  readonly optimizer: AdamW;
  /** Batches, used in order and cycled when there are fewer than `steps`; or a function of the step index. */
  readonly batches: readonly TrainingBatch[] | ((step: number) => TrainingBatch);
  /** Number of optimisation steps. */
  readonly steps: number;
  /** Clip the gradients' total L2 norm to this (`clip_grad_norm_`); default: no clipping. */
  readonly maxGradientNorm?: number;
  /**
   * Called after every step (and awaited when it returns a promise); returning `false` stops training (any
   * other return value, or none, goes on).
   */
  readonly onStep?: (report: TrainingStepReport) => unknown;
}

/** The result of {@link train}. */
export interface TrainingResult {
  /** The loss before each update, one per step taken. */
  readonly losses: number[];
}

/**
 * A causal-LM fine-tuning loop in the shape of PyTorch's:
 * `loss = model(input_ids, labels).loss; optimizer.zero_grad(); loss.backward(); [clip]; optimizer.step()`.
 * Each step differentiates {@link causalLanguageModelLoss} with respect to `trainable.parameters()` only
 * (`valueAndGradients` from `@peftjs/tensor`), optionally clips, applies the optimizer and installs the
 * updated tensors — all on the active backend. What a step reads back is the (loss, gradient norm) pair, awaited
 * through the asynchronous read path, so the loop also runs on backends that can only read asynchronously;
 * the trainable tensors themselves are never read. Every intermediate tensor is released before the next step.
 *
 * A non-finite loss or gradient, or a non-finite value in the last update, stops training before that update
 * is installed: the trainable tensors then hold the last finite step's values.
 *
 * @throws ModelInputError for a negative step count or an empty batch list; TrainingDivergedError for a
 *   non-finite loss, gradient norm or updated parameter; the errors of the loss and the optimizer.
 */
export async function train(options: TrainOptions): Promise<TrainingResult> {
  const { model, trainable, optimizer, batches, steps } = options;
  if (!(Number.isInteger(steps) && steps >= 0)) {
    throw new ModelInputError(`steps must be an integer ≥ 0, got ${steps}`);
  }
  if (Array.isArray(batches) && batches.length === 0)
    throw new ModelInputError("train needs at least one batch");
  const batchAt = (step: number): TrainingBatch =>
    typeof batches === "function"
      ? batches(step)
      : (batches as readonly TrainingBatch[])[step % batches.length]!;
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const batch = batchAt(step);
    const parameters = trainable.parameters();
    const { value, gradients } = valueAndGradients(
      () => causalLanguageModelLoss(model.forward(batch.inputIds), batch.labels ?? batch.inputIds),
      parameters,
    );
    let applied: Map<string, Tensor> = gradients;
    let norm: Tensor;
    if (options.maxGradientNorm === undefined) {
      norm = totalGradientNorm(gradients);
    } else {
      const clipped = clipGradientNorm(gradients, options.maxGradientNorm);
      norm = clipped.totalNorm;
      applied = clipped.gradients;
      for (const gradient of gradients.values()) gradient.dispose();
    }
    // One read: the loss and the gradient norm together.
    const pair = tidy(() => concat([reshape(value, [1]), reshape(norm, [1])], 0));
    value.dispose();
    norm.dispose();
    const read = await readValues(pair);
    pair.dispose();
    const loss = read[0]!;
    const gradientNorm = read[1]!;
    if (!Number.isFinite(loss) || !Number.isFinite(gradientNorm)) {
      for (const gradient of applied.values()) gradient.dispose();
      const what = Number.isFinite(loss)
        ? `the gradient norm is ${gradientNorm} (loss ${loss})`
        : `the loss is ${loss}`;
      throw new TrainingDivergedError(
        step,
        step - 1,
        `training diverged at step ${step}: ${what}; ${lastFinite(losses)}. Nothing of this step was applied; lower the learning rate or clip the gradients`,
      );
    }
    const updated = optimizer.step(parameters, applied);
    for (const gradient of applied.values()) gradient.dispose();
    // The last update feeds no loss that would show it: its values are checked before they are installed.
    if (step === steps - 1) {
      try {
        await checkFiniteUpdate(updated, step, losses);
      } catch (error) {
        for (const tensor of updated.values()) tensor.dispose();
        throw error;
      }
    }
    trainable.setParameters(updated);
    losses.push(loss);
    if ((await options.onStep?.({ step, loss, gradientNorm })) === false) {
      if (step < steps - 1) await checkFiniteUpdate(trainable.parameters(), step, losses);
      break;
    }
  }
  return { losses };
}

function lastFinite(losses: readonly number[]): string {
  return losses.length === 0
    ? "no earlier step to fall back on"
    : `the last finite step was ${losses.length - 1} (loss ${losses.at(-1)})`;
}

/**
 * Throws when an update holds a non-finite value (`losses` are those of the steps before `step`). Checked on
 * the device — Σ 0·θ over every tensor is 0 exactly when all are finite (0·±∞ and 0·NaN are NaN) — so a
 * finite update costs one scalar read; only a failing one is searched on the host for the message.
 */
async function checkFiniteUpdate(
  parameters: ReadonlyMap<string, Tensor>,
  step: number,
  losses: readonly number[],
): Promise<void> {
  const probe = tidy(() =>
    [...parameters.values()].reduce<Tensor>((total, tensor) => add(total, sum(mul(tensor, 0))), scalar(0)),
  );
  const [check] = await readValues(probe);
  probe.dispose();
  if (Number.isFinite(check)) return;
  for (const [name, tensor] of parameters) {
    const values = await readValues(tensor);
    const index = values.findIndex((entry) => !Number.isFinite(entry));
    if (index >= 0) {
      throw new TrainingDivergedError(
        step,
        step - 1,
        `training diverged at step ${step}: its update makes "${name}" hold ${values[index]} at index ${index}; ${lastFinite(losses)}. Lower the learning rate`,
      );
    }
  }
}
