import {
  exp,
  log,
  max,
  mul,
  reshape,
  scale,
  slice,
  sub,
  sum,
  type Tensor,
  tensor,
  tidy,
} from "@peftjs/tensor";
import { ModelInputError } from "../errors.js";
import type { TokenBatch } from "../llama/llama-model.js";

/** The label that marks a position as not counted in the loss (PyTorch's and transformers' default). */
export const IGNORE_INDEX = -100;

/** Options of {@link causalLanguageModelLoss}. */
export interface CausalLanguageModelLossOptions {
  /** Labels equal to this are not counted. Default {@link IGNORE_INDEX} (-100). */
  ignoreIndex?: number;
}

function labelRows(labels: TokenBatch): number[][] {
  if (Array.isArray(labels)) return (labels as readonly (readonly number[])[]).map((row) => [...row]);
  const batch = labels as Tensor;
  if (batch.rank !== 2) throw new ModelInputError(`labels must be [B, T], got [${batch.shape.join(", ")}]`);
  const [rows, columns] = batch.shape as [number, number];
  const values = batch.dataSync();
  return Array.from({ length: rows }, (_, row) =>
    Array.from(values.subarray(row * columns, (row + 1) * columns)),
  );
}

/**
 * The causal language-modelling loss of Hugging Face transformers (`ForCausalLMLoss`): position `t`'s logits
 * predict label `t + 1` (the labels are shifted inside, so pass `labels = input_ids`), and the loss is the
 * mean token cross-entropy `−log softmax(logits)[label]` over all counted positions, in float32. Built from
 * differentiable tensor ops, so it back-propagates once autograd records them.
 *
 * @param logits `[B, T, V]`, e.g. `model.forward(inputIds)`.
 * @param labels `[B, T]` token ids (or {@link IGNORE_INDEX} to skip a position).
 * @returns a scalar tensor `[]`.
 * @throws ModelInputError when shapes differ, a label is outside the vocabulary, or no position is counted.
 */
export function causalLanguageModelLoss(
  logits: Tensor,
  labels: TokenBatch,
  options: CausalLanguageModelLossOptions = {},
): Tensor {
  const ignoreIndex = options.ignoreIndex ?? IGNORE_INDEX;
  if (logits.rank !== 3)
    throw new ModelInputError(`logits must be [B, T, V], got [${logits.shape.join(", ")}]`);
  const [batchSize, length, vocabSize] = logits.shape as [number, number, number];
  const rows = labelRows(labels);
  if (rows.length !== batchSize || rows.some((row) => row.length !== length)) {
    throw new ModelInputError(
      `labels [${rows.length}, ${rows[0]?.length ?? 0}] do not match logits [${logits.shape.join(", ")}]`,
    );
  }
  const predicted = batchSize * (length - 1);
  // One-hot selector of the shifted labels: row (b, t) picks label[b][t + 1].
  const selector = new Float32Array(predicted * vocabSize);
  let counted = 0;
  rows.forEach((row, batch) => {
    for (let position = 0; position + 1 < length; position++) {
      const label = row[position + 1]!;
      if (label === ignoreIndex) continue;
      if (!(Number.isInteger(label) && label >= 0 && label < vocabSize)) {
        throw new ModelInputError(
          `label ${label} at [${batch}, ${position + 1}] is outside [0, ${vocabSize})`,
        );
      }
      selector[(batch * (length - 1) + position) * vocabSize + label] = 1;
      counted++;
    }
  });
  if (counted === 0) throw new ModelInputError("no label is counted (all ignored, or sequences of length 1)");
  return tidy(() => {
    const shifted = reshape(slice(logits, [0, 0, 0], [batchSize, length - 1, vocabSize]), [
      predicted,
      vocabSize,
    ]);
    // log_softmax(x) = x − m − log Σ exp(x − m), with m the row maximum.
    const centered = sub(shifted, max(shifted, 1, true));
    const logProbabilities = sub(centered, log(sum(exp(centered), 1, true)));
    const pickedSum = sum(mul(logProbabilities, tensor(selector, [predicted, vocabSize])));
    return scale(pickedSum, -1 / counted);
  });
}
